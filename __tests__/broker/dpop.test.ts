/** RFC 9449 DPoP: a bound credential is useless without a fresh proof from its key, for this request. */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createProof, createProofKey, withProofs, type ProofKey } from '../../src/action/dpop.js';
import { parseConfig } from '../../src/broker/policy/config.js';
import { brokerYaml, LOCAL_URLS, type ConfigOverrides } from '../../src/local/config.js';
import { startWorld, type World } from '../../src/local/world.js';

let world: World;
let key: ProofKey;
let credential: string;
/** Where clients reach the broker (through a proxy that strips the /keyhole prefix). */
const PUBLIC = 'https://proxy.example/keyhole';
const PROJECT = `${PUBLIC}/v9/projects/prj_marketing`;
const DPOP_PROJECT: ConfigOverrides = { projects: { 'marketing-site': { require_dpop: true } } };

beforeAll(async () => {
  world = await startWorld({ config: { ...DPOP_PROJECT, public_url: `${PUBLIC}/` } });
  key = await createProofKey();
  const response = await exchange({ dpop: await createProof(key, 'POST', `${PUBLIC}/v1/exchange`) });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { credential: string; token_type: string };
  expect(body.token_type).toBe('DPoP');
  credential = body.credential;
});
afterAll(() => world.close());

/** Requests reach the broker at its own address; proofs name the public one. */
const internal = (url: string) => url.replace(PUBLIC, world.url);
const exchange = (headers: Record<string, string>) =>
  world.exchange({}, 'marketing-site', 'preview', headers);
const audit = () => world.audit();

const call = (headers: Record<string, string>, url = PROJECT, method = 'GET') =>
  fetch(internal(url), { method, headers });

const refusal = async (response: Response) => {
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toMatch(/^DPoP /);
  return ((await response.json()) as { error: { code: string; message: string } }).error;
};

test('with a fresh proof from its key, for this method and URL, the bound credential works', async () => {
  const response = await call({
    authorization: `DPoP ${credential}`,
    dpop: await createProof(key, 'GET', PROJECT, credential),
  });
  expect(response.status).toBe(200);
  // The action's fetch wrapper does the same on every call, whatever the caller set.
  const wrapped = withProofs((input, init) => fetch(internal(String(input)), init), key, credential);
  expect((await wrapped(PROJECT, { headers: { authorization: 'Bearer overwritten' } })).status).toBe(200);
});

test('refused: as a bearer token, without a proof, with another key, replayed, for another URL or method', async () => {
  const proof = (overrides: { key?: ProofKey; method?: string; url?: string; credential?: string } = {}) =>
    createProof(
      overrides.key ?? key,
      overrides.method ?? 'GET',
      overrides.url ?? PROJECT,
      overrides.credential ?? credential,
    );
  const bearer = await refusal(await call({ authorization: `Bearer ${credential}`, dpop: await proof() }));
  expect(bearer.message).toMatch(/bound to a key/);
  expect((await refusal(await call({ authorization: `DPoP ${credential}` }))).message).toMatch(
    /send a fresh proof/,
  );
  const other = await createProofKey();
  expect(
    (await refusal(await call({ authorization: `DPoP ${credential}`, dpop: await proof({ key: other }) })))
      .message,
  ).toMatch(/another key/);
  const once = await proof();
  expect((await call({ authorization: `DPoP ${credential}`, dpop: once })).status).toBe(200);
  expect((await refusal(await call({ authorization: `DPoP ${credential}`, dpop: once }))).message).toMatch(
    /already used/,
  );
  const elsewhere = await proof({ url: `${PUBLIC}/v13/deployments` });
  expect(
    (await refusal(await call({ authorization: `DPoP ${credential}`, dpop: elsewhere }))).message,
  ).toMatch(/not GET/);
  const post = await proof({ method: 'POST' });
  expect((await refusal(await call({ authorization: `DPoP ${credential}`, dpop: post }))).code).toBe(
    'invalid_credential',
  );
  // The Host a proxy or an attacker chooses is never the reference: only public_url is.
  const internalUrl = await proof({ url: internal(PROJECT) });
  expect(
    (await refusal(await call({ authorization: `DPoP ${credential}`, dpop: internalUrl }))).message,
  ).toMatch(/make one per request/);
  const otherCredential = await proof({ credential: 'khd_someone_else' });
  expect(
    (await refusal(await call({ authorization: `DPoP ${credential}`, dpop: otherCredential }))).message,
  ).toMatch(/ath/);
  const twoProofs = `${await proof()}, ${await proof()}`;
  expect(
    (await refusal(await call({ authorization: `DPoP ${credential}`, dpop: twoProofs }))).message,
  ).toMatch(/exactly one/);
});

test('refused: a stale proof, an unsigned or HMAC proof, a proof carrying a private key', async () => {
  const sign = (payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    new SignJWT({ htm: 'GET', htu: PROJECT, jti: crypto.randomUUID(), ...payload })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk, ...header })
      .sign(key.privateKey);
  const now = Math.floor(Date.now() / 1000);
  const { accessTokenHash } = await import('../../src/broker/credential/dpop.js');
  const ath = await accessTokenHash(credential);
  const stale = await sign({ iat: now - 120, ath });
  expect((await refusal(await call({ authorization: `DPoP ${credential}`, dpop: stale }))).message).toMatch(
    /iat/,
  );
  const future = await sign({ iat: now + 60, ath });
  expect((await refusal(await call({ authorization: `DPoP ${credential}`, dpop: future }))).message).toMatch(
    /iat/,
  );
  const wrongType = await sign({ iat: now, ath }, { typ: 'JWT' });
  expect(
    (await refusal(await call({ authorization: `DPoP ${credential}`, dpop: wrongType }))).message,
  ).toMatch(/dpop\+jwt/);
  const hmac = await new SignJWT({ htm: 'GET', htu: PROJECT, jti: 'abcdefgh12', iat: now, ath })
    .setProtectedHeader({
      alg: 'HS256',
      typ: 'dpop+jwt',
      jwk: { kty: 'oct', k: 'AAAA' } as Record<string, string>,
    })
    .sign(new Uint8Array(32));
  expect((await refusal(await call({ authorization: `DPoP ${credential}`, dpop: hmac }))).message).toMatch(
    /ES256/,
  );
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${b64({ alg: 'none', typ: 'dpop+jwt', jwk: key.jwk })}.${b64({ htm: 'GET', htu: PROJECT, jti: 'abcdefgh13', iat: now, ath })}.`;
  expect(
    (await refusal(await call({ authorization: `DPoP ${credential}`, dpop: unsigned }))).message,
  ).toMatch(/ES256/);
  const pair = await generateKeyPair('ES256', { extractable: true });
  const leaky = await new SignJWT({ htm: 'GET', htu: PROJECT, jti: 'abcdefgh14', iat: now, ath })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(pair.privateKey) })
    .sign(pair.privateKey);
  expect((await refusal(await call({ authorization: `DPoP ${credential}`, dpop: leaky }))).message).toMatch(
    /ES256/,
  );
});

test('the exchange binds only with a valid proof; credential-only mode is refused with what to do', async () => {
  const missing = await exchange({});
  expect(missing.status).toBe(400);
  const { error } = (await missing.json()) as { error: { code: string; message: string } };
  expect(error.code).toBe('bad_request');
  expect(error.message).toMatch(/official Vercel CLI cannot send DPoP proofs.*deploy: false/);
  const wrongUrl = await exchange({ dpop: await createProof(key, 'POST', `${world.url}/v1/exchange`) });
  expect(wrongUrl.status).toBe(400);
  const asGet = await exchange({ dpop: await createProof(key, 'GET', `${PUBLIC}/v1/exchange`) });
  expect(asGet.status).toBe(400);
  expect(audit().some((a) => a.event === 'exchange' && a.reason === 'dpop proof missing at exchange')).toBe(
    true,
  );
});

test('missing and replayed proofs leave audit lines that name the job', async () => {
  const reasons = audit()
    .filter((a) => a.event === 'gateway' && a.decision === 'deny')
    .map((a) => a.reason);
  expect(reasons).toEqual(
    expect.arrayContaining(['dpop proof missing', 'dpop proof replayed', 'dpop proof wrong_key']),
  );
  for (const line of audit().filter((a) => String(a.reason).startsWith('dpop proof')))
    expect(line.run_url).toMatch(
      /^https:\/\/github\.com\/acme\/marketing\/actions\/runs\/7000000001\/job\/\d+$/,
    );
});

test('policy check explains that a require_dpop project cannot use the official CLI', () => {
  const yaml = brokerYaml(LOCAL_URLS, { ...DPOP_PROJECT, public_url: PUBLIC });
  const { warnings } = parseConfig(yaml);
  expect(warnings).toContainEqual(
    expect.objectContaining({
      path: 'projects.marketing-site.require_dpop',
      message: expect.stringMatching(/official Vercel CLI cannot send DPoP proofs/),
    }),
  );
  const withoutUrl = brokerYaml(LOCAL_URLS, { ...DPOP_PROJECT, audience: 'keyhole-broker' });
  expect(() => parseConfig(withoutUrl)).toThrow(
    /require_dpop: needs the broker URL that clients use: set public_url/,
  );
});

test('a proof naming another broker address says which input or config key to change', async () => {
  const response = await exchange({
    dpop: await createProof(key, 'POST', 'https://keyhole.internal.example/keyhole/v1/exchange'),
  });
  expect(response.status).toBe(400);
  expect(response.headers.get('www-authenticate')).toMatch(/invalid_dpop_proof/);
  const { error } = (await response.json()) as { error: { message: string } };
  expect(error.message).toBe(
    "The DPoP proof names the broker at https://keyhole.internal.example/keyhole, but this broker's public_url is https://proxy.example/keyhole: point the client (the action's broker-url input) at https://proxy.example/keyhole, or, if clients do reach the broker at https://keyhole.internal.example/keyhole, set public_url: https://keyhole.internal.example/keyhole in the broker config.",
  );
});
