/**
 * The committed action bundle asks GitHub for its OIDC token as the process starts
 * (src/action/early-token.ts) and the exchange uses that token: one token request per run, and a
 * failed early request falls back to @actions/core's.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

let world: BundledWorld;
beforeAll(async () => {
  world = await startBundledWorld();
});
afterAll(() => world.close());

function workspace(): string {
  const dir = mkdtempSync(path.join(world.dir, 'ws-'));
  mkdirSync(path.join(dir, 'site'));
  writeFileSync(path.join(dir, 'site', 'index.html'), '<h1>early</h1>');
  return dir;
}

test('a deploy asks GitHub for one token, the one asked for as the process started, and exchanges it', async () => {
  const before = world.issuer.tokenRequests().length;
  const run = await world.run({ path: 'site' }, { workspace: workspace() });
  expect(run.code).toBe(0);
  expect(run.outputs['ready-state']).toBe('READY');
  expect(world.issuer.tokenRequests().slice(before)).toEqual([AUDIENCE]);
});

test('the audience input is the one the early request asks for', async () => {
  const before = world.issuer.tokenRequests().length;
  const run = await world.run({ path: 'site', audience: 'keyhole-elsewhere' }, { workspace: workspace() });
  // The broker expects its own audience: the exchange is refused, after one request for the input's.
  expect(run.code).not.toBe(0);
  expect(world.issuer.tokenRequests().slice(before)).toEqual(['keyhole-elsewhere']);
});

test('a token service that fails the early request: @actions/core asks again and the deploy goes on', async () => {
  const before = world.issuer.tokenRequests().length;
  // A 500 that @actions/core does not retry: without the early request this run would fail.
  world.issuer.failTokenRequests(1, 500);
  const run = await world.run({ path: 'site' }, { workspace: workspace() });
  expect(run.code).toBe(0);
  expect(run.outputs['ready-state']).toBe('READY');
  expect(world.issuer.tokenRequests().slice(before)).toEqual([AUDIENCE, AUDIENCE]);
});

test('behind a proxy the early request is not made: @actions/core, which honours the proxy, asks', async () => {
  const before = world.issuer.tokenRequests().length;
  world.issuer.failTokenRequests(1, 500);
  // The proxy variable names a proxy that is not there but excludes the local issuer and broker.
  const run = await world.run(
    { path: 'site' },
    { workspace: workspace(), env: { HTTPS_PROXY: 'http://127.0.0.1:9', NO_PROXY: '127.0.0.1,localhost' } },
  );
  // The one request, @actions/core's, met the failure: had the early request been made, it would have.
  expect(run.code).not.toBe(0);
  expect(run.stdout + run.stderr).toMatch(/GitHub did not issue an OIDC token/);
  expect(world.issuer.tokenRequests().slice(before)).toEqual([AUDIENCE]);
});
