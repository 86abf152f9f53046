/** The opt-in sticky pull-request comment, against emulate's GitHub API: one comment per project, updated in place. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createEmulator, type Emulator } from 'emulate';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

const GITHUB_TOKEN = 'ghs_emulated_job_token';
let world: BundledWorld;
let github: Emulator;
let issue: number;

beforeAll(async () => {
  world = await startBundledWorld();
  github = await createEmulator({
    service: 'github',
    port: 0,
    seed: {
      tokens: { [GITHUB_TOKEN]: { login: 'octocat', scopes: ['repo'] } },
      github: {
        users: [{ login: 'octocat', name: 'The Octocat' }],
        orgs: [{ login: 'acme', name: 'Acme', members: [{ login: 'octocat', role: 'admin' }] }],
        repos: [{ owner: 'acme', name: 'marketing', auto_init: true }],
      },
    },
  });
  const created = await fetch(`${github.url}/repos/acme/marketing/issues`, {
    method: 'POST',
    headers: { authorization: `Bearer ${GITHUB_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'A pull request to preview' }),
  });
  issue = ((await created.json()) as { number: number }).number;
});
afterAll(async () => {
  await github.close();
  await world.close();
});

/** A loopback URL nothing listens on: a port the OS just handed out and that was closed again. */
async function closedPortUrl(): Promise<string> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

async function comments() {
  const response = await fetch(`${github.url}/repos/acme/marketing/issues/${issue}/comments`, {
    headers: { authorization: `Bearer ${GITHUB_TOKEN}` },
  });
  return (await response.json()) as { id: number; body: string }[];
}

test('two deploys of one pull request leave one Keyhole comment, updated with the latest URL', async () => {
  const workspace = mkdtempSync(path.join(world.dir, 'pr-'));
  mkdirSync(path.join(workspace, 'site'));
  writeFileSync(path.join(workspace, 'site', 'index.html'), 'first');
  const event = path.join(workspace, 'event.json');
  writeFileSync(
    event,
    JSON.stringify({
      pull_request: { number: issue },
      repository: { name: 'marketing', owner: { login: 'acme' } },
    }),
  );
  const env = {
    GITHUB_API_URL: github.url,
    GITHUB_EVENT_PATH: event,
    GITHUB_EVENT_NAME: 'pull_request',
    GITHUB_REPOSITORY: 'acme/marketing',
  };
  const inputs = { path: 'site', comment: 'true', 'github-token': GITHUB_TOKEN };
  const claims = { ref: `refs/pull/${issue}/merge`, event_name: 'pull_request' };

  const first = await world.run(inputs, { workspace, env, claims });
  expect(first.code).toBe(0);
  expect(first.stdout).toMatch(/Pull request comment created/);
  writeFileSync(path.join(workspace, 'site', 'index.html'), 'second');
  const second = await world.run(inputs, { workspace, env, claims });
  expect(second.code).toBe(0);
  expect(second.stdout).toMatch(/Pull request comment updated/);

  const keyhole = (await comments()).filter((c) => c.body.includes('<!-- keyhole:marketing-site -->'));
  expect(keyhole).toHaveLength(1);
  expect(keyhole[0]!.body).toContain(second.outputs['deployment-url']!);
  expect(keyhole[0]!.body).not.toContain(first.outputs['deployment-url']!);
  expect(keyhole[0]!.body).toMatch(/READY/);
});

test('a comment that cannot be written warns and leaves the deploy green', async () => {
  const workspace = mkdtempSync(path.join(world.dir, 'pr-'));
  mkdirSync(path.join(workspace, 'site'));
  writeFileSync(path.join(workspace, 'site', 'index.html'), 'x');
  const event = path.join(workspace, 'event.json');
  writeFileSync(event, JSON.stringify({ pull_request: { number: issue } }));
  const run = await world.run(
    { path: 'site', comment: 'true', 'github-token': GITHUB_TOKEN },
    {
      workspace,
      // GitHub's API unreachable: emulate accepts any token, so an outage stands in for a refusal.
      env: {
        GITHUB_API_URL: await closedPortUrl(),
        GITHUB_EVENT_PATH: event,
        GITHUB_REPOSITORY: 'acme/marketing',
      },
    },
  );
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(
    /::warning::Could not write the summary or the pull request comment.*pull-requests: write/,
  );
});
