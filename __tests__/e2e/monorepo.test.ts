/**
 * Monorepos through the bundles: several projects from one workspace (the action once per project,
 * each with its `path`), projects whose Vercel Root Directory is a subfolder, source and prebuilt.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { UPSTREAM_TOKEN } from '../../src/local/world.js';

const rule = `    allow:
      - repository: acme/marketing
        repository_id: "123456789"
        repository_owner_id: "987654"
        targets: [preview]
`;
const PROJECTS = ['web', 'docs', 'shop']
  .map(
    (name) =>
      `  ${name}:\n    team_id: team_abc123\n    project_id: prj_${name}\n    token_env: VERCEL_TOKEN_MARKETING\n${rule}`,
  )
  .join('');

let world: BundledWorld;

beforeAll(async () => {
  world = await startBundledWorld({
    extraConfig: PROJECTS,
    fake: {
      projects: [
        // No Root Directory: the action's `path` is the project.
        { id: 'prj_web', name: 'web', teamId: 'team_abc123' },
        { id: 'prj_docs', name: 'docs', teamId: 'team_abc123' },
        // Root Directory apps/shop, as Vercel's monorepo setup has it.
        { id: 'prj_shop', name: 'shop', teamId: 'team_abc123', rootDirectory: 'apps/shop' },
      ],
    },
  });
});
afterAll(() => world.close());

/** A monorepo checkout: apps/web, apps/docs, apps/shop and a shared package. */
function monorepo(): string {
  const root = mkdtempSync(path.join(world.dir, 'mono-'));
  const files: Record<string, string> = {
    'package.json': '{"private":true,"workspaces":["apps/*","packages/*"]}',
    'apps/web/index.html': 'web',
    'apps/docs/index.html': 'docs',
    'apps/shop/package.json': '{"name":"shop"}',
    'apps/shop/index.html': 'shop',
    'packages/ui/index.js': 'export const ui = 1;',
  };
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content);
  }
  return root;
}

const filesOf = (id: string) =>
  world.fake.deployments
    .get(id)!
    .files.map((f) => f.file)
    .sort();

test('one workflow deploys several projects: the action once per project, each with its path', async () => {
  const workspace = monorepo();
  const web = await world.run({ project: 'web', path: 'apps/web' }, { workspace });
  const docs = await world.run({ project: 'docs', path: 'apps/docs' }, { workspace });
  expect([web.code, docs.code]).toEqual([0, 0]);
  const [webDeployment, docsDeployment] = [web, docs].map((r) =>
    world.fake.deployments.get(r.outputs['deployment-id']!)!,
  );
  expect(webDeployment).toMatchObject({ projectId: 'prj_web' });
  expect(docsDeployment).toMatchObject({ projectId: 'prj_docs' });
  expect(filesOf(webDeployment!.id)).toEqual(['index.html']);
  expect(filesOf(docsDeployment!.id)).toEqual(['index.html']);
  // Each step had its own credential, each for its own project.
  const exchanges = world.broker.auditLines().filter((l) => l.event === 'exchange' && l.decision === 'allow');
  expect(exchanges.slice(-2).map((l) => l.project)).toEqual(['web', 'docs']);
});

test('a Root Directory project deployed from the repository root builds with the whole repository beside it', async () => {
  const run = await world.run({ project: 'shop', path: '.' }, { workspace: monorepo() });
  expect(run.code).toBe(0);
  expect(run.outputs['ready-state']).toBe('READY');
  expect(run.stdout).not.toMatch(/uploading the files under/);
  expect(filesOf(run.outputs['deployment-id']!)).toEqual(
    expect.arrayContaining(['apps/shop/index.html', 'packages/ui/index.js', 'package.json']),
  );
});

test('a Root Directory project deployed from its own folder is uploaded under that folder', async () => {
  const run = await world.run({ project: 'shop', path: 'apps/shop' }, { workspace: monorepo() });
  expect(run.code).toBe(0);
  expect(run.outputs['ready-state']).toBe('READY');
  expect(run.stdout).toMatch(/Root Directory is apps\/shop: uploading the files under apps\/shop\//);
  expect(filesOf(run.outputs['deployment-id']!)).toEqual(['apps/shop/index.html', 'apps/shop/package.json']);
});

test('prebuilt output at the repository root deploys for a project whose Root Directory is a subfolder', async () => {
  const workspace = monorepo();
  // `vercel build` at the repository root of a Root Directory project writes .vercel/output there.
  mkdirSync(path.join(workspace, '.vercel', 'output', 'static'), { recursive: true });
  writeFileSync(path.join(workspace, '.vercel/output/config.json'), '{"version":3}');
  writeFileSync(path.join(workspace, '.vercel/output/builds.json'), '{"target":"preview"}');
  writeFileSync(path.join(workspace, '.vercel/output/static/index.html'), 'built shop');
  const run = await world.run({ project: 'shop', path: '.', prebuilt: 'true' }, { workspace });
  expect(run.code).toBe(0);
  expect(run.outputs['ready-state']).toBe('READY');
  expect(filesOf(run.outputs['deployment-id']!)).toEqual([
    'apps/shop/.vercel/output/builds.json',
    'apps/shop/.vercel/output/config.json',
    'apps/shop/.vercel/output/static/index.html',
  ]);
});

test.each([
  [
    'a prebuilt output outside the Root Directory',
    '1',
    '.vercel/output/static/index.html',
    /No prebuilt output found in "apps\/shop\/\.vercel\/output"/,
  ],
  [
    'source files outside the Root Directory',
    '0',
    'index.html',
    /The specified Root Directory "apps\/shop" does not exist/,
  ],
])('the fake holds Vercel’s rule: %s fails the build', async (_, prebuilt, file, failure) => {
  const created = await fetch(`${world.fake.url}/v13/deployments?teamId=team_abc123&prebuilt=${prebuilt}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${UPSTREAM_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'shop', project: 'prj_shop', files: [{ file, data: '<p>outside</p>' }] }),
  });
  const { id } = (await created.json()) as { id: string };
  expect(world.fake.deployments.get(id)).toMatchObject({
    fails: true,
    failure: expect.stringMatching(failure),
  });
});
