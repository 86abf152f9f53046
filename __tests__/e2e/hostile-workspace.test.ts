/**
 * The workspace is the attacker's (issue 24, part 1), through the bundles: the action reads and
 * writes only regular files and directories it reached without following a link out, never under
 * `.git`, never waits on a FIFO or device, and every refusal names the file, fails the step and
 * ends the credential.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { auditLine, startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import type { ActionRun } from '../../src/local/runner.js';
import { WEB_ENV, WEB_FAKE_PROJECTS, WEB_PROJECT } from '../../src/local/web-project.js';

let world: BundledWorld;
beforeAll(async () => {
  world = await startBundledWorld({
    config: { projects: { web: WEB_PROJECT } },
    fake: { projects: WEB_FAKE_PROJECTS, env: WEB_ENV },
  });
});
afterAll(() => world.close());
beforeEach(() => world.fake.clearRecord());

const GIT_CONFIG =
  '[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hzX2V4YW1wbGU=\n';
const RUNNER_SECRET = 'runner file outside the workspace';

function workspaceWith(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(world.dir, 'ws-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

function outsideDir(): string {
  const dir = mkdtempSync(path.join(world.dir, 'outside-'));
  writeFileSync(path.join(dir, 'secret.txt'), RUNNER_SECRET);
  return dir;
}

/** The step's `::error::` annotation, unescaped as the runner reads it. */
const errorOf = (run: ActionRun) =>
  (/^::error::(.*)$/m.exec(run.stdout)?.[1] ?? '')
    .replace(/%0A/g, '\n')
    .replace(/%0D/g, '\r')
    .replace(/%25/g, '%');

const deployRequests = () =>
  world.fake.requests.filter((r) => r.path === '/v2/files' || r.path === '/v13/deployments');
const uploaded = () => [...world.fake.blobs.values()].map((b) => b.data?.toString() ?? '');

/** The credential this run received was revoked at the broker: the step's failure ended it. */
async function expectRevoked() {
  const exchanged = world.broker
    .auditLines()
    .findLast((l) => l.event === 'exchange' && l.decision === 'allow');
  expect(exchanged).toBeDefined();
  const revoked = await auditLine(
    world.broker,
    (l) => l.event === 'revoke' && l.credential_id === exchanged!.credential_id,
  );
  expect(revoked).toBeDefined();
}

describe('"path" never leads to .git or out of the workspace', () => {
  test.each([
    ['a symlink to .git', (ws: string) => symlinkSync('.git', path.join(ws, 'site')), 'site'],
    [
      'a path through a symlink to .git',
      (ws: string) => symlinkSync('.git', path.join(ws, 'link')),
      'link/hooks',
    ],
    ['.git itself', () => undefined, '.git'],
    ['.GIT, as a case-insensitive volume spells it', () => undefined, '.GIT/hooks'],
    [
      'a symlink out of the workspace',
      (ws: string) => symlinkSync(outsideDir(), path.join(ws, 'out')),
      'out',
    ],
  ])('%s is refused, named, and the credential revoked', async (_name, arrange, deployPath) => {
    const workspace = workspaceWith({
      'index.html': '<h1>hi</h1>',
      '.git/config': GIT_CONFIG,
      '.git/hooks/index.html': 'a hook',
      '.GIT/hooks/index.html': 'a hook',
    });
    arrange(workspace);
    const run = await world.run({ path: deployPath }, { workspace });
    expect(run.code).not.toBe(0);
    expect(errorOf(run)).toMatch(/\.git directory|outside the workspace/i);
    expect(errorOf(run)).toContain(deployPath.split('/')[0]);
    expect(deployRequests()).toEqual([]);
    expect(uploaded()).not.toContain(GIT_CONFIG);
    await expectRevoked();
  });

  test('.git in any case is never uploaded from inside the tree, whatever .vercelignore says', async () => {
    const workspace = workspaceWith({
      'site/index.html': 'hi',
      'site/.vercelignore': '!.GIT\n!.Git/**',
      'site/.GIT/config': GIT_CONFIG,
      'site/vendor/.Git/config': GIT_CONFIG,
    });
    const run = await world.run({ path: 'site' }, { workspace });
    expect(run.code).toBe(0);
    const create = world.fake.requests.findLast((r) => r.method === 'POST' && r.path === '/v13/deployments')!;
    const files = (create.json as { files: { file: string }[] }).files.map((f) => f.file);
    expect(files).toContain('index.html');
    expect(files.filter((f) => /(^|\/)\.git(\/|$)/i.test(f))).toEqual([]);
    expect(uploaded()).not.toContain(GIT_CONFIG);
  });
});

describe('.vercelignore is read only as a small regular file', () => {
  test.each([
    ['a FIFO', (file: string) => execFileSync('mkfifo', [file]), /\.vercelignore is a FIFO/],
    [
      'a symlink to /dev/zero',
      (file: string) => symlinkSync('/dev/zero', file),
      /\.vercelignore is a symbolic link/,
    ],
    [
      'a symlink to a FIFO',
      (file: string) => {
        const fifo = path.join(path.dirname(file), '..', 'pipe');
        execFileSync('mkfifo', [fifo]);
        symlinkSync(fifo, file);
      },
      /\.vercelignore is a symbolic link/,
    ],
    [
      'a huge file',
      (file: string) => writeFileSync(file, Buffer.alloc(2 * 1024 * 1024, 'a\n')),
      /\.vercelignore is larger than 1048576 bytes/,
    ],
  ])(
    '%s fails the step at once, naming it, and the credential is revoked',
    async (_name, arrange, message) => {
      const workspace = workspaceWith({ 'site/index.html': 'hi' });
      arrange(path.join(workspace, 'site', '.vercelignore'));
      const run = await world.run({ path: 'site' }, { workspace });
      expect(run.code).not.toBe(0);
      expect(errorOf(run)).toMatch(message);
      expect(deployRequests()).toEqual([]);
      await expectRevoked();
    },
  );

  test('a prebuilt builds.json that is a FIFO fails the step at once, naming it', async () => {
    const workspace = workspaceWith({ 'site/.vercel/output/config.json': '{"version":3}' });
    execFileSync('mkfifo', [path.join(workspace, 'site/.vercel/output/builds.json')]);
    const run = await world.run({ path: 'site', prebuilt: 'true' }, { workspace });
    expect(run.code).not.toBe(0);
    expect(errorOf(run)).toMatch(/\.vercel\/output\/builds\.json is a FIFO/);
    await expectRevoked();
  });

  test('a prebuilt .vercel that is a symlink out of the workspace is refused, not read through', async () => {
    const outside = outsideDir();
    mkdirSync(path.join(outside, 'output'));
    writeFileSync(path.join(outside, 'output', 'builds.json'), '{"target":"preview"}');
    writeFileSync(path.join(outside, 'output', 'config.json'), RUNNER_SECRET);
    const workspace = workspaceWith({ 'site/index.html': 'hi' });
    symlinkSync(outside, path.join(workspace, 'site', '.vercel'));
    const run = await world.run({ path: 'site', prebuilt: 'true' }, { workspace });
    expect(run.code).not.toBe(0);
    expect(errorOf(run)).toMatch(/\.vercel is a symbolic link, not a directory/);
    expect(uploaded().join('\n')).not.toContain(RUNNER_SECRET);
    await expectRevoked();
  });
});

test('symlinks inside the tree are deployed as links: never followed, their targets never read', async () => {
  const outside = outsideDir();
  const workspace = workspaceWith({ 'site/index.html': 'hi', 'site/real.txt': 'real' });
  symlinkSync(path.join(outside, 'secret.txt'), path.join(workspace, 'site', 'leak.txt'));
  symlinkSync(outside, path.join(workspace, 'site', 'leakdir'));
  symlinkSync('real.txt', path.join(workspace, 'site', 'alias.txt'));
  const run = await world.run({ path: 'site' }, { workspace });
  expect(run.code).toBe(0);
  const create = world.fake.requests.findLast((r) => r.method === 'POST' && r.path === '/v13/deployments')!;
  const files = (create.json as { files: { file: string; mode: number }[] }).files;
  for (const name of ['leak.txt', 'leakdir', 'alias.txt'])
    expect(files.find((f) => f.file === name)?.mode).toBe(lstatSync(path.join(workspace, 'site', name)).mode);
  expect(files.map((f) => f.file)).not.toContain('leakdir/secret.txt');
  expect(uploaded()).toContain('real.txt');
  expect(uploaded().join('\n')).not.toContain(RUNNER_SECRET);
});

test('a directory swapped for a link between listing and reading is refused, naming the file', async () => {
  const outside = mkdtempSync(path.join(world.dir, 'outside-'));
  // Same size as the listed file, so only the identity check tells them apart.
  writeFileSync(path.join(outside, 'page.html'), 'RUNNER SECRET');
  const workspace = workspaceWith({ 'site/index.html': 'hi', 'site/sub/page.html': 'inside page!!' });
  // The first create is held at the fake while the directory is swapped; the upload reads after it.
  world.fake.inject({ kind: 'slow', method: 'POST', path: '/v13/deployments', delayMs: 4000 });
  const running = world.run({ path: 'site' }, { workspace });
  for (let i = 0; i < 600 && !world.fake.requests.some((r) => r.path === '/v13/deployments'); i++)
    await new Promise((resolve) => setTimeout(resolve, 10));
  renameSync(path.join(workspace, 'site', 'sub'), path.join(workspace, 'site', 'moved'));
  symlinkSync(outside, path.join(workspace, 'site', 'sub'));
  const run = await running;
  expect(run.code).not.toBe(0);
  expect(errorOf(run)).toMatch(/sub\/page\.html changed between listing and reading/);
  expect(uploaded().join('\n')).not.toContain('RUNNER SECRET');
  await expectRevoked();
});

describe('pull: true writes only real files in real directories', () => {
  const pull = { project: 'web', path: 'site', pull: 'true', deploy: 'false' };

  test('a .vercel that is a symlink out of the workspace is refused; nothing is written there', async () => {
    const outside = mkdtempSync(path.join(world.dir, 'outside-'));
    const workspace = workspaceWith({ 'site/index.html': 'hi' });
    symlinkSync(outside, path.join(workspace, 'site', '.vercel'));
    const run = await world.run(pull, { workspace });
    expect(run.code).not.toBe(0);
    expect(errorOf(run)).toMatch(/\.vercel is a symbolic link, not a directory/);
    expect(readdirSync(outside)).toEqual([]);
    expect(run.exported.VERCEL_TOKEN).toBeUndefined();
    await expectRevoked();
  });

  test('project.json and .env.preview.local planted as symlinks are replaced, never written through', async () => {
    const outside = outsideDir();
    const workspace = workspaceWith({ 'site/index.html': 'hi' });
    mkdirSync(path.join(workspace, 'site', '.vercel'));
    symlinkSync(path.join(outside, 'secret.txt'), path.join(workspace, 'site', '.vercel', 'project.json'));
    // A dangling link: `w` would create its target, outside the workspace.
    symlinkSync(
      path.join(outside, 'created.env'),
      path.join(workspace, 'site', '.vercel', '.env.preview.local'),
    );
    const run = await world.run(pull, { workspace });
    expect(run.code).toBe(0);
    expect(readFileSync(path.join(outside, 'secret.txt'), 'utf8')).toBe(RUNNER_SECRET);
    expect(existsSync(path.join(outside, 'created.env'))).toBe(false);
    for (const name of ['project.json', '.env.preview.local'])
      expect(lstatSync(path.join(workspace, 'site', '.vercel', name)).isFile()).toBe(true);
    expect(readFileSync(path.join(workspace, 'site', '.vercel', 'project.json'), 'utf8')).toContain(
      'prj_web',
    );
  });
});
