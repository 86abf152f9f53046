/** Followed streams end with the credential that opened them (src/broker/gateway/follow.ts). */
import { createHash } from 'node:crypto';
import { mintCredential } from '../../src/broker/credential/credential.js';
import { localCredentialClaims } from '../../src/local/credentials.js';
import { startWorld, type World } from '../../src/local/world.js';

let world: World;
let deploymentId: string;
let credential: string;
beforeAll(async () => {
  world = await startWorld({
    fake: { buildMs: 800 },
    config: { projects: { 'marketing-site': { runtime_logs: true } } },
  });
  credential = await world.credential({ ref: 'refs/heads/follow' });
  deploymentId = await deploy('follow me');
});

/** A new deployment (building for 800 ms) of a file of its own. */
async function deploy(data: string): Promise<string> {
  const sha = createHash('sha1').update(data).digest('hex');
  await world.call(credential, 'POST', '/v2/files', { body: data, headers: { 'x-now-digest': sha } });
  const created = await world.call(credential, 'POST', '/v13/deployments', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'x', files: [{ file: 'index.html', sha, size: data.length }] }),
  });
  return ((await created.json()) as { id: string }).id;
}
afterAll(() => world.close());

/** A preview credential of marketing-site that expires `ms` from now. */
const expiringIn = async (ms: number) =>
  (await mintCredential(world.keys, localCredentialClaims({ exp: Date.now() + ms }))).credential;

const followLogs = async (credential: string) => {
  const response = await world.call(
    credential,
    'GET',
    `/v1/projects/prj_marketing/deployments/${deploymentId}/runtime-logs?format=lines`,
  );
  expect(response.status).toBe(200);
  return (await response.text()).split('\n').filter(Boolean);
};

test('a runtime-log stream runs to its end while the credential is valid', async () => {
  const lines = await followLogs(await expiringIn(60_000));
  expect(lines.at(-1)).toMatch(/"source":"delimiter"/);
});

test('a runtime-log stream ends when its credential expires, and the upstream stream is closed', async () => {
  // The fake writes a line every 20 ms for half a second; the credential has a quarter of that.
  const lines = await followLogs(await expiringIn(120));
  expect(lines.length).toBeGreaterThan(0);
  expect(lines.join('\n')).not.toMatch(/"source":"delimiter"/);
  for (let i = 0; i < 50 && world.fake.openLogStreams() > 0; i++) await new Promise((r) => setTimeout(r, 20));
  expect(world.fake.openLogStreams()).toBe(0);
});

test.each([
  ['runs to the end of the build while the credential is valid', 60_000, true],
  ['ends when its credential expires, before the build does', 150, false],
])('a followed build log (vercel inspect --logs) %s', async (_name, ms, whole) => {
  const id = await deploy(`build log ${ms}`);
  const response = await world.call(await expiringIn(ms), 'GET', `/v3/deployments/${id}/events?follow=1`);
  expect(response.status).toBe(200);
  const text = await response.text();
  // The fake's stream ends with the alias once the build is READY.
  expect(/"type":"alias-assigned"/.test(text)).toBe(whole);
});
