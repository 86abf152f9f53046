// Revocations when the shared store fails: never a bare 500, always what to do (retry), fail closed.
import type { CredentialClaims } from '../../src/broker/credential/credential.js';
import { BrokerError } from '../../src/broker/errors.js';
import { MemoryReplayStore } from '../../src/broker/store/memory.js';
import { createRevocations } from '../../src/broker/credential/revocation.js';

const claims = {
  v: 1,
  cid: 'c1',
  exp: Date.now() + 60_000,
} as CredentialClaims;

test('a revocation the store cannot record answers 503 with Retry-After, saying to retry', async () => {
  const store = new MemoryReplayStore();
  store.put = () => Promise.reject(new Error('connection refused'));
  const error = await createRevocations(store, Date.now)
    .revoke(claims)
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(BrokerError);
  expect(error).toMatchObject({ status: 503, code: 'unavailable', headers: { 'retry-after': '2' } });
  expect((error as Error).message).toMatch(/retry shortly/);
  expect((error as Error).message).not.toMatch(/connection refused/);
});

test('a revocation check the store cannot answer fails closed with 503', async () => {
  const store = new MemoryReplayStore();
  store.get = () => Promise.reject(new Error('timeout'));
  await expect(createRevocations(store, Date.now).check(claims)).rejects.toMatchObject({ status: 503 });
});
