/** The action bundle never uploads `.git/` and never deploys a directory outside the workspace (issue 13). */
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

let world: BundledWorld;
beforeAll(async () => {
  world = await startBundledWorld();
});
afterAll(() => world.close());
beforeEach(() => world.fake.clearRecord());

const GIT_CONFIG =
  '[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hzX2V4YW1wbGU=\n';

function workspaceWith(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(world.dir, 'ws-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

test.each([
  ['!.git', 'site'],
  ['!.git\n!.git/**\n!/.git/config', 'site'],
  ['!.git', '.'],
])('.git/ is never uploaded, even when .vercelignore says %j (path %s)', async (vercelignore, deployPath) => {
  const prefix = deployPath === '.' ? '' : `${deployPath}/`;
  const workspace = workspaceWith({
    [`${prefix}index.html`]: '<h1>hi</h1>',
    [`${prefix}.vercelignore`]: vercelignore,
    [`${prefix}.git/config`]: GIT_CONFIG,
    [`${prefix}.git/HEAD`]: 'ref: refs/heads/main\n',
    [`${prefix}vendor/lib/.git/config`]: GIT_CONFIG,
  });
  const run = await world.run({ path: deployPath }, { workspace });
  expect(run.code).toBe(0);
  const create = world.fake.requests
    .filter((r) => r.method === 'POST' && r.path === '/v13/deployments')
    .at(-1)!;
  const files = (create.json as { files: { file: string }[] }).files.map((f) => f.file);
  expect(files).toContain('index.html');
  expect(files.filter((f) => f.split('/').includes('.git'))).toEqual([]);
  const uploaded = [...world.fake.blobs.values()].map((b) => b.data?.toString() ?? '');
  expect(uploaded).not.toContain(GIT_CONFIG);
});

test('a "path" whose parent is a symlink out of the workspace is refused, naming both paths', async () => {
  const outside = mkdtempSync(path.join(world.dir, 'outside-'));
  writeFileSync(path.join(outside, 'secret.txt'), 'runner file outside the workspace');
  mkdirSync(path.join(outside, 'site'));
  writeFileSync(path.join(outside, 'site', 'index.html'), 'outside');
  const workspace = workspaceWith({ 'index.html': 'inside' });
  symlinkSync(outside, path.join(workspace, 'linked'));
  const run = await world.run({ path: 'linked/site' }, { workspace });
  expect(run.code).not.toBe(0);
  const error = /::error::(.*)/.exec(run.stdout)?.[1] ?? '';
  expect(error).toContain(realpathSync(path.join(outside, 'site')));
  expect(error).toContain(realpathSync(workspace));
  expect(world.fake.requests.filter((r) => r.path === '/v2/files' || r.path === '/v13/deployments')).toEqual(
    [],
  );
});

test('a symlink that stays inside the workspace is deployed', async () => {
  const workspace = workspaceWith({ 'real/site/index.html': '<h1>through a link</h1>' });
  symlinkSync(path.join(workspace, 'real'), path.join(workspace, 'alias'));
  const run = await world.run({ path: 'alias/site' }, { workspace });
  expect(run.code).toBe(0);
  expect(run.outputs['ready-state']).toBe('READY');
});
