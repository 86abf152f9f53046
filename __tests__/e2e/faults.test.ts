/** The action through the bundled broker survives a flaky Vercel: 20 % of upstream requests fail. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

let world: BundledWorld;
beforeAll(async () => {
  world = await startBundledWorld({ fake: { buildMs: 100, seed: 7 } });
});
afterAll(() => world.close());

test('a 500-file deploy with 20 % injected faults (429, 5xx, resets before and after processing) succeeds with exactly one deployment', async () => {
  const workspace = mkdtempSync(path.join(world.dir, 'faults-'));
  for (let i = 0; i < 500; i++) {
    const dir = path.join(workspace, 'site', `d${i % 10}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `page-${i}.html`), `<p>page ${i} of the fault test</p>`);
  }
  world.fake.setFaultRate(0.2);
  try {
    const run = await world.run({ path: 'site' }, { workspace });
    expect({ code: run.code, error: /::error::(.*)/.exec(run.stdout)?.[1] }).toEqual({
      code: 0,
      error: undefined,
    });
    expect(run.outputs['ready-state']).toBe('READY');
    // Retries show up upstream: far more requests than the 500 uploads and a few reads.
    expect(world.fake.requests.length).toBeGreaterThan(600);
    expect(run.stdout).toMatch(/retry \d+ in/);
  } finally {
    world.fake.setFaultRate(0);
  }
  expect(world.fake.deployments.size).toBe(1);
  expect(world.fake.blobs.size).toBe(500);
}, 180_000);
