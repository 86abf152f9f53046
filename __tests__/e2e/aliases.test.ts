/** Stable preview aliases end to end: the bundled action renders the template, the bundled broker enforces the patterns. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BundledWorld } from '../../src/local/bundled.js';
import { startPreviewWorld } from '../../src/local/previews.js';

let world: BundledWorld;

beforeAll(async () => {
  world = await startPreviewWorld();
});
afterAll(() => world.close());

function pullRequestJob(number: number) {
  const workspace = mkdtempSync(path.join(world.dir, 'alias-'));
  mkdirSync(path.join(workspace, 'site'));
  writeFileSync(path.join(workspace, 'site', 'index.html'), `pull request ${number}`);
  const event = path.join(workspace, 'event.json');
  writeFileSync(event, JSON.stringify({ pull_request: { number, head: { ref: 'feature/x' } } }));
  return {
    workspace,
    env: {
      GITHUB_EVENT_PATH: event,
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_HEAD_REF: 'feature/x',
      GITHUB_REF_NAME: `${number}/merge`,
    },
    claims: { ref: `refs/pull/${number}/merge`, event_name: 'pull_request' },
  };
}

const aliasPosts = () =>
  world.fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/aliases'));

test('a pull request preview gets pr-<n>.preview.acme.dev, in the outputs and the summary', async () => {
  const run = await world.run(
    { project: 'docs', path: 'site', alias: 'pr-{pr}.preview.acme.dev' },
    pullRequestJob(12),
  );
  expect(run.code).toBe(0);
  expect(run.outputs['alias-url']).toBe('https://pr-12.preview.acme.dev');
  const id = run.outputs['deployment-id']!;
  expect(world.fake.aliases.get('pr-12.preview.acme.dev')).toBe(id);
  expect(run.summary).toContain('[https://pr-12.preview.acme.dev](https://pr-12.preview.acme.dev)');
  expect(run.stdout).toContain('Alias: https://pr-12.preview.acme.dev');

  // The next push to the same pull request moves the stable name to the new deployment.
  const again = await world.run(
    { project: 'docs', path: 'site', alias: 'pr-{pr}.preview.acme.dev' },
    pullRequestJob(12),
  );
  expect(again.code).toBe(0);
  expect(again.outputs['deployment-id']).not.toBe(id);
  expect(world.fake.aliases.get('pr-12.preview.acme.dev')).toBe(again.outputs['deployment-id']);
});

test('{branch} becomes one DNS label, capped with a stable hash for long names', async () => {
  const job = pullRequestJob(13);
  const branch = 'Feature/JIRA-1234_a-very-long-branch-name-that-goes-on-and-on-and-on';
  const run = await world.run(
    { project: 'docs', path: 'site', alias: '{branch}-{sha}.preview.acme.dev' },
    { ...job, env: { ...job.env, GITHUB_HEAD_REF: branch } },
  );
  expect(run.code).toBe(0);
  expect(run.outputs['alias-url']).toMatch(
    /^https:\/\/feature-jira-1234-a-very-long-bra-[0-9a-f]{6}-a3f1c0d\.preview\.acme\.dev$/,
  );
});

test('an alias outside the patterns fails the step, keeps the deployment outputs, and reaches nothing', async () => {
  world.fake.clearRecord();
  const run = await world.run(
    { project: 'docs', path: 'site', alias: 'pr-{pr}.acme.dev' },
    pullRequestJob(14),
  );
  expect(run.code).not.toBe(0);
  expect(run.stdout).toMatch(
    /::error::The alias pr-14\.acme\.dev was not assigned \(403 forbidden: .*preview_aliases/,
  );
  expect(run.outputs['deployment-url']).toMatch(/^https:\/\//);
  expect(run.outputs['alias-url']).toBe('');
  expect(aliasPosts()).toEqual([]);
  expect(world.fake.requests.some((r) => r.path.startsWith('/v4/aliases'))).toBe(false);
});

test('the production domain that matches a pattern is never taken', async () => {
  world.fake.clearRecord();
  const run = await world.run(
    { project: 'docs', path: 'site', alias: 'www.preview.acme.dev' },
    pullRequestJob(15),
  );
  expect(run.code).not.toBe(0);
  expect(run.stdout).toMatch(/is a domain of project docs/);
  expect(aliasPosts()).toEqual([]);
  expect(world.fake.aliases.has('www.preview.acme.dev')).toBe(false);
});

test('{pr} on a push run fails before anything is deployed, and says how to write it', async () => {
  world.fake.clearRecord();
  const workspace = mkdtempSync(path.join(world.dir, 'push-'));
  writeFileSync(path.join(workspace, 'index.html'), 'push');
  const run = await world.run(
    { project: 'docs', alias: 'pr-{pr}.preview.acme.dev' },
    { workspace, env: { GITHUB_EVENT_NAME: 'push', GITHUB_REF_NAME: 'main' } },
  );
  expect(run.code).not.toBe(0);
  expect(run.stdout).toMatch(/uses \{pr\} but this run is not for a pull request/);
  expect(world.fake.requests).toEqual([]);
});
