/** research/oidc.md §7.1, row by row: each test fails without the defence it names. */
import { generateKeyPairSync } from 'node:crypto';
import { CompactEncrypt, exportJWK, generateKeyPair, importJWK, SignJWT, type JWTVerifyGetKey } from 'jose';
import type { GitHubClaims } from '../../src/broker/oidc/claims.js';
import {
  createGitHubKeySet,
  createTokenVerifier,
  InvalidTokenError,
  MAX_TOKEN_BYTES,
} from '../../src/broker/oidc/verify.js';
import { defaultClaims, startGitHubIssuer, type GitHubIssuer } from '../../src/local/github-oidc.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startWorld, type World } from '../../src/local/world.js';
import { verifyRs256 } from '../../src/broker/host/node/crypto.js';

let issuer: GitHubIssuer;
let keySet: JWTVerifyGetKey;
let verify: (token: string) => Promise<GitHubClaims>;

beforeAll(async () => {
  issuer = await startGitHubIssuer();
  keySet = createGitHubKeySet(issuer.jwksUrl);
  // Every token goes through both the WebCrypto path and the Node host's crypto.verify path: they
  // must accept the same tokens with the same claims and refuse the same ones.
  const web = createTokenVerifier({ issuer: issuer.issuer, audience: AUDIENCE, keySet });
  const native = createTokenVerifier({ issuer: issuer.issuer, audience: AUDIENCE, keySet, verifyRs256 });
  verify = async (token) => {
    const [a, b] = await Promise.allSettled([web(token), native(token)]);
    expect(b.status).toBe(a.status);
    if (a.status === 'fulfilled') {
      expect((b as PromiseFulfilledResult<GitHubClaims>).value).toEqual(a.value);
      return a.value;
    }
    expect((b as PromiseRejectedResult).reason).toBeInstanceOf((a.reason as object).constructor);
    throw a.reason;
  };
});
afterAll(() => issuer.close());

const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function rejects(token: string): Promise<string> {
  try {
    await verify(token);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect((error as InvalidTokenError).message).toBe(
      'The OIDC token is invalid, expired, or not meant for this broker.',
    );
    return (error as InvalidTokenError).detail;
  }
  throw new Error('token was accepted');
}

test('a GitHub-shaped token (nbf back-dated 10 minutes, 5 minutes of life) is accepted', async () => {
  const claims = await verify(await issuer.mint(AUDIENCE));
  expect(claims.repository).toBe('acme/marketing');
  expect(claims.repository_id).toBe('123456789');
});

test('#1 alg none is refused', async () => {
  const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...defaultClaims(), iss: issuer.issuer, aud: AUDIENCE, iat: now(), exp: now() + 300, nbf: now(), jti: 'x' })}.`;
  expect(await rejects(token)).toMatch(/JOSEAlgNotAllowed|JWSInvalid|Unsupported/);
});

test('#2 HS256 signed with the public key as the HMAC secret is refused', async () => {
  const jwks = (await (await fetch(issuer.jwksUrl)).json()) as { keys: object[] };
  const publicPem = Buffer.from(JSON.stringify(jwks.keys[0]));
  const token = await new SignJWT({ ...defaultClaims(), jti: 'hs' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(issuer.issuer)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new Uint8Array(publicPem));
  expect(await rejects(token)).toMatch(/JOSEAlgNotAllowed/);
});

test('#3 other algorithms (ES256, PS256) are refused even when validly signed', async () => {
  for (const alg of ['ES256', 'PS256']) {
    const { privateKey } = await generateKeyPair(alg);
    const token = await new SignJWT({ ...defaultClaims(), jti: alg })
      .setProtectedHeader({ alg, typ: 'JWT' })
      .setIssuer(issuer.issuer)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    expect(await rejects(token)).toMatch(/JOSEAlgNotAllowed/);
  }
});

test('#4 a kid that names no key in the JWKS is only ever a lookup miss', async () => {
  const { privateKey } = await generateKeyPair('RS256');
  const token = await new SignJWT({ ...defaultClaims(), jti: 'kid' })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: '../../etc/passwd' })
    .setIssuer(issuer.issuer)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
  expect(await rejects(token)).toMatch(/JWKSNoMatchingKey/);
});

test('#5 jku, x5u, jwk and x5c headers are refused, even with a valid signature', async () => {
  const { publicKey } = await generateKeyPair('RS256');
  for (const header of [
    { jku: 'https://evil.example/jwks' },
    { x5u: 'https://evil.example/cert' },
    { jwk: await exportJWK(publicKey) },
    { x5c: ['MIIB'] },
  ]) {
    // Signed by the issuer's own key: only the extra header is wrong.
    const token = await issuer.mint(AUDIENCE, undefined, { header });
    expect(await rejects(token)).toMatch(/^header /);
  }
});

test('#6 a token from another issuer with its own keys is refused', async () => {
  const other = await startGitHubIssuer();
  try {
    expect(await rejects(await other.mint(AUDIENCE))).toMatch(/JWKSNoMatchingKey|JWTClaimValidationFailed/);
  } finally {
    await other.close();
  }
});

test('#7 issuers compare exactly: a suffix, a trailing slash or another case is another issuer', async () => {
  for (const iss of [`${issuer.issuer}/evilcorp`, `${issuer.issuer}/`, issuer.issuer.toUpperCase()]) {
    const token = await issuer.mint(AUDIENCE, { ...defaultClaims(), iss });
    expect(await rejects(token)).toMatch(/JWTClaimValidationFailed.*iss/);
  }
});

test('#8 audience confusion: GitHub default audience, another relying party, several audiences', async () => {
  expect(await rejects(await issuer.mint('https://github.com/acme'))).toMatch(/aud/);
  expect(await rejects(await issuer.mint('https://other-relying-party.example'))).toMatch(/aud/);
  expect(await rejects(await issuer.mint([AUDIENCE, 'https://other.example']))).toBe(
    'aud is a list: a token for several audiences is refused, GitHub sends one',
  );
});

test('#9 a token without exp (or any required claim) is refused; so is a lifetime over 10 minutes', async () => {
  for (const missing of [
    'repository_id',
    'repository_owner_id',
    'job_workflow_ref',
    'runner_environment',
    'ref_type',
  ]) {
    const claims = { ...defaultClaims(), [missing]: undefined };
    expect(await rejects(await issuer.mint(AUDIENCE, claims))).toMatch(
      new RegExp(`JWTClaimValidationFailed.*${missing}|claim`),
    );
  }
  expect(await rejects(await issuer.mint(AUDIENCE, undefined, { lifetimeSeconds: 3600 }))).toBe(
    'lifetime too long: exp - iat is 3600 s, at most 600 s accepted',
  );
});

test('#9 exp is required: a signed token without it is refused', async () => {
  // Sign with a key the verifier trusts, but leave exp out.
  const pair = await generateKeyPair('RS256', { extractable: true });
  const kid = 'no-exp';
  const localKeySet: JWTVerifyGetKey = async () => pair.publicKey;
  const v = createTokenVerifier({ issuer: issuer.issuer, audience: AUDIENCE, keySet: localKeySet });
  const token = await new SignJWT({ ...defaultClaims(), jti: 'noexp' })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
    .setIssuer(issuer.issuer)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setNotBefore(now() - 600)
    .sign(pair.privateKey);
  await expect(v(token)).rejects.toMatchObject({ detail: expect.stringMatching(/"exp" claim/) });
});

test('#10 expired, not yet valid and too old tokens are refused; clock tolerance is small', async () => {
  const pair = await generateKeyPair('RS256');
  const v = createTokenVerifier({
    issuer: issuer.issuer,
    audience: AUDIENCE,
    keySet: async () => pair.publicKey,
  });
  const sign = (iat: number, exp: number, nbf: number) =>
    new SignJWT({ ...defaultClaims(), jti: `t${iat}` })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(issuer.issuer)
      .setAudience(AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setNotBefore(nbf)
      .sign(pair.privateKey);
  const t = now();
  await expect(v(await sign(t - 400, t - 100, t - 1000))).rejects.toMatchObject({
    detail: expect.stringMatching(/JWTExpired/),
  });
  await expect(v(await sign(t, t + 300, t + 120))).rejects.toMatchObject({
    detail: expect.stringMatching(/nbf/),
  });
  await expect(v(await sign(t - 500, t + 60, t - 1100))).rejects.toMatchObject({
    detail: expect.stringMatching(/iat|JWTExpired|too old/),
  });
  // 20 s of skew either way is tolerated.
  await expect(v(await sign(t + 20, t + 320, t - 580))).resolves.toMatchObject({
    repository: 'acme/marketing',
  });
});

test('#11 a token of another typ from the same issuer is refused', async () => {
  expect(await rejects(await issuer.mint(AUDIENCE, undefined, { header: { typ: 'at+jwt' } }))).toMatch(/typ/);
});

test('#12 random kids do not make the broker refetch the JWKS more than once per cooldown', async () => {
  await verify(await issuer.mint(AUDIENCE));
  const before = issuer.jwksFetches();
  const { privateKey } = await generateKeyPair('RS256');
  for (let i = 0; i < 20; i++) {
    const token = await new SignJWT({ ...defaultClaims(), jti: `k${i}` })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: `random-${i}` })
      .setIssuer(issuer.issuer)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    await rejects(token);
  }
  expect(issuer.jwksFetches() - before).toBeLessThanOrEqual(1);
});

test('#12 oversized tokens are refused before any parsing', async () => {
  const token = `${'a'.repeat(MAX_TOKEN_BYTES)}.b.c`;
  expect(await rejects(token)).toMatch(/^token too large: \d+ bytes, at most 8192 accepted$/);
});

test('#13 JWE and JSON serialisation are refused before parsing', async () => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwe = await new CompactEncrypt(new TextEncoder().encode('{}'))
    .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM' })
    .encrypt(await importJWK(publicKey.export({ format: 'jwk' }), 'RSA-OAEP-256'));
  expect(await rejects(jwe)).toBe('not a JWT: 3 dot-separated segments expected, got 5');
  expect(await rejects(JSON.stringify({ payload: 'x', signatures: [] }))).toBe(
    'not a JWT: 3 dot-separated segments expected, got 1',
  );
});

test('numeric claims must be digit strings (ids are never coerced)', async () => {
  expect(await rejects(await issuer.mint(AUDIENCE, defaultClaims({ repository_id: 123456789 })))).toMatch(
    /repository_id/,
  );
  expect(await rejects(await issuer.mint(AUDIENCE, defaultClaims({ run_id: '12e3' })))).toMatch(/run_id/);
});

describe('the rate limit and the replay check, asked together', () => {
  let world: World;
  let clock = Date.now();
  beforeAll(async () => {
    world = await startWorld({ extraConfig: 'limits:\n  exchange_rate_per_owner: 1\n', now: () => clock });
  });
  afterAll(() => world.close());

  const send = (token: string) =>
    fetch(`${world.url}/v1/exchange`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
    });

  test('a token refused by the rate limit is not used up: it exchanges once the window has passed, once', async () => {
    world.issuer.setJob({ run_id: '7100001' });
    expect((await send(await world.issuer.mint(AUDIENCE))).status).toBe(200);
    world.issuer.setJob({ run_id: '7100002' });
    const limited = await world.issuer.mint(AUDIENCE);
    const refused = await send(limited);
    expect(refused.status).toBe(429);
    clock += 61_000; // the next one-minute window
    expect((await send(limited)).status).toBe(200);
    // Sent again in the same window it is rate-limited, which must not give back a used token.
    expect((await send(limited)).status).toBe(429);
    clock += 61_000;
    const replay = await send(limited);
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: { code: string } }).error.code).toBe('token_replayed');
  });
});

describe('through the exchange', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => world.close());

  test('#14 a token is exchanged once: the replay is refused whatever the first outcome', async () => {
    world.issuer.setJob({});
    const token = await world.issuer.mint(AUDIENCE);
    const send = () =>
      fetch(`${world.url}/v1/exchange`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, project: 'marketing-site', target: 'production' }),
      });
    const first = await send();
    expect(first.status).toBe(403); // denied: no environment on this job
    const second = await send();
    expect(second.status).toBe(401);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe('token_replayed');
  });

  test('#16 a token from another issuer with a colliding repository id is refused', async () => {
    const ghes = await startGitHubIssuer();
    try {
      const token = await ghes.mint(AUDIENCE);
      const response = await fetch(`${world.url}/v1/exchange`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
      });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_token');
    } finally {
      await ghes.close();
    }
  });
});
