import {
  loadSigningKeys,
  mintCredential,
  newCredentialClaims,
  verifyCredential,
  type CredentialClaims,
} from '../../src/broker/credential/credential.js';
import { CREDENTIAL_MAX_LENGTH, CREDENTIAL_PATTERN } from '../../src/shared/wire.js';
import { localCredentialClaims } from '../../src/local/credentials.js';

const key = (byte: number, length = 32) => Buffer.alloc(length, byte).toString('base64url');
const claims = (overrides: Partial<CredentialClaims> = {}) => localCredentialClaims(overrides);

test('a credential matches the CLI-safe pattern, stays under 1 KiB, and verifies to what was minted', async () => {
  const keys = await loadSigningKeys(`k1:${key(1)}`, 'KEY');
  const { credential, claims: minted } = await mintCredential(keys, claims());
  expect(credential).toMatch(CREDENTIAL_PATTERN);
  expect(credential.length).toBeLessThanOrEqual(CREDENTIAL_MAX_LENGTH);
  expect(await verifyCredential(keys, credential)).toEqual(minted);
  expect(minted.cid).toMatch(/^cred_[0-9a-f]{24}$/);
});

test('long refs and workflow paths still fit in 1 KiB', async () => {
  const keys = await loadSigningKeys(`k1:${key(1)}`, 'KEY');
  const long = 'refs/heads/' + 'feature/'.repeat(20) + 'x';
  const { credential } = await mintCredential(
    keys,
    claims({ ref: long, wf: `acme/marketing/.github/workflows/deploy.yml@${long}` }),
  );
  expect(credential.length).toBeLessThanOrEqual(CREDENTIAL_MAX_LENGTH);
});

test('rotation: the first key signs, every key verifies; a removed key stops verifying', async () => {
  const old = await loadSigningKeys(`old:${key(1)}`, 'KEY');
  const rotated = await loadSigningKeys(`new:${key(2)},old:${key(1)}`, 'KEY');
  const { credential: fromOld } = await mintCredential(old, claims());
  const { credential: fromNew } = await mintCredential(rotated, claims());
  expect(fromNew.startsWith('khd_new_')).toBe(true);
  await expect(verifyCredential(rotated, fromOld)).resolves.toBeTruthy();
  const retired = await loadSigningKeys(`new:${key(2)}`, 'KEY');
  await expect(verifyCredential(retired, fromOld)).rejects.toMatchObject({ code: 'invalid_credential' });
});

test('a credential from another broker key with the same kid is refused', async () => {
  const a = await loadSigningKeys(`k1:${key(1)}`, 'KEY');
  const b = await loadSigningKeys(`k1:${key(9)}`, 'KEY');
  const { credential } = await mintCredential(b, claims());
  await expect(verifyCredential(a, credential)).rejects.toMatchObject({
    status: 401,
    code: 'invalid_credential',
  });
});

test('expired credentials are refused', async () => {
  const keys = await loadSigningKeys(`k1:${key(1)}`, 'KEY');
  const { credential } = await mintCredential(keys, claims({ exp: Date.now() + 1000 }));
  await expect(verifyCredential(keys, credential, Date.now() + 1001)).rejects.toMatchObject({
    message: expect.stringMatching(/expired/),
  });
});

test.each([
  ['too short', `k1:${key(1, 16)}`, /16 bytes; use at least 32/],
  ['malformed', 'not-a-key', /entry 1 must look like kid:<base64url secret>/],
  ['duplicate kid', `k1:${key(1)},k1:${key(2)}`, /appears twice/],
])('signing key %s is a clear startup error', async (_name, value, message) => {
  await expect(loadSigningKeys(value, 'KEYHOLE_SIGNING_KEY')).rejects.toThrow(message);
});

test('no key configured means an ephemeral key, flagged so the broker can warn', async () => {
  const keys = await loadSigningKeys(undefined, 'KEY');
  expect(keys.ephemeral).toBe(true);
  const { credential } = await mintCredential(keys, claims());
  await expect(verifyCredential(keys, credential)).resolves.toBeTruthy();
});

test("the Node host's HMAC and WebCrypto's are interchangeable: each verifies the other's credential, a forged MAC fails both", async () => {
  const { hmacSha256 } = await import('../../src/broker/host/node/crypto.js');
  const web = await loadSigningKeys(`k1:${key(1)}`, 'KEY');
  const native = await loadSigningKeys(`k1:${key(1)}`, 'KEY', hmacSha256);
  const { credential: fromWeb } = await mintCredential(web, claims());
  const { credential: fromNative } = await mintCredential(native, claims());
  await expect(verifyCredential(native, fromWeb)).resolves.toMatchObject({ repo: 'acme/marketing' });
  await expect(verifyCredential(web, fromNative)).resolves.toMatchObject({ repo: 'acme/marketing' });
  const forged = `${fromNative.slice(0, -1)}${fromNative.endsWith('0') ? '1' : '0'}`;
  for (const keys of [web, native])
    await expect(verifyCredential(keys, forged)).rejects.toMatchObject({ code: 'invalid_credential' });
  const other = await loadSigningKeys(`k1:${key(2)}`, 'KEY', hmacSha256);
  await expect(verifyCredential(other, fromNative)).rejects.toMatchObject({ code: 'invalid_credential' });
});

test('credential ids are 96 random bits each, distinct across the blocks they are drawn from', () => {
  // 1,000 ids span three refills of the 4 KiB block (341 ids each).
  const ids = Array.from({ length: 1000 }, () => newCredentialClaims(claims()).cid);
  expect(new Set(ids).size).toBe(1000);
  for (const id of ids) expect(id).toMatch(/^cred_[0-9a-f]{24}$/);
  // Not a counter nor a repeated block: the hex digits of the ids are spread evenly.
  const digits = ids.join('').replace(/cred_/g, '');
  for (const digit of '0123456789abcdef') {
    const share = digits.split(digit).length - 1;
    expect(share / digits.length).toBeGreaterThan(0.05);
    expect(share / digits.length).toBeLessThan(0.075);
  }
});
