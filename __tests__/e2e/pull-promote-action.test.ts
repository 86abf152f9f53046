/** The action bundle's `pull`, `stage` and `promote` through the bundled broker, against the strict fake. */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { WEB_ENV, WEB_FAKE_PROJECTS, WEB_PROJECT, WEB_SECRETS } from '../../src/local/web-project.js';

const SECRETS = [
  ...WEB_SECRETS,
  'DATABASE_URL',
  'STRIPE_SECRET_KEY',
  'WEBHOOK_SIGNING_SECRET',
  'VERCEL_OIDC_TOKEN',
];
const PRODUCTION = { environment: 'production' };
let world: BundledWorld;

beforeAll(async () => {
  world = await startBundledWorld({
    config: { projects: { web: WEB_PROJECT } },
    fake: { projects: WEB_FAKE_PROJECTS, env: WEB_ENV },
  });
});
afterAll(() => world.close());
beforeEach(() => world.fake.clearRecord());

function workspace(): string {
  const dir = mkdtempSync(path.join(world.dir, 'ws-'));
  mkdirSync(path.join(dir, 'site'));
  writeFileSync(path.join(dir, 'site', 'index.html'), `<h1>${path.basename(dir)}</h1>`);
  return dir;
}

const filesUnder = (dir: string) =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => readFileSync(path.join(entry.parentPath, entry.name), 'utf8'));

describe('pull: true', () => {
  test('writes project.json and the listed names of its target before a build step, and nothing else', async () => {
    const dir = workspace();
    const run = await world.run(
      { project: 'web', path: 'site', pull: 'true', deploy: 'false' },
      { workspace: dir, env: { GITHUB_REF: 'refs/heads/main' } },
    );
    expect(run.code).toBe(0);
    expect(readFileSync(path.join(dir, 'site', '.vercel', '.env.preview.local'), 'utf8')).toBe(
      '# Created by Vercel CLI\nNEXT_PUBLIC_API_URL="https://api.preview.acme.example"\n',
    );
    expect(JSON.parse(readFileSync(path.join(dir, 'site', '.vercel', 'project.json'), 'utf8'))).toEqual({
      projectId: 'prj_web',
      orgId: 'team_abc123',
      projectName: 'web',
      settings: expect.objectContaining({ framework: null, nodeVersion: '24.x', createdAt: 1700000000000 }),
    });
    expect(run.stdout).toMatch(
      /Pulled 1 variable\(s\) for preview into .*\.env\.preview\.local: NEXT_PUBLIC_API_URL/,
    );
    expect(run.exported.VERCEL_PROJECT_ID).toBe('prj_web');
    const everything = [
      run.stdout,
      run.stderr,
      run.summary,
      JSON.stringify(run.outputs),
      JSON.stringify(run.exported),
      world.broker.stdout(),
      world.broker.stderr(),
      ...filesUnder(dir),
    ].join('\n');
    for (const secret of SECRETS) expect(everything).not.toContain(secret);
  });

  test('a branch build also gets the variables that apply to its own branch', async () => {
    const dir = workspace();
    const run = await world.run(
      { project: 'web', path: 'site', pull: 'true', deploy: 'false' },
      {
        workspace: dir,
        claims: { ref: 'refs/heads/feature/x' },
        env: { GITHUB_REF: 'refs/heads/feature/x' },
      },
    );
    expect(run.code).toBe(0);
    expect(readFileSync(path.join(dir, 'site', '.vercel', '.env.preview.local'), 'utf8')).toBe(
      '# Created by Vercel CLI\nNEXT_PUBLIC_API_URL="https://api.preview.acme.example"\nNEXT_PUBLIC_BRANCH_FLAG="feature-x-on"\n',
    );
  });

  test('pull with a source deploy: the pulled files stay in the workspace, never in the upload', async () => {
    const run = await world.run(
      { project: 'web', path: 'site', pull: 'true' },
      { workspace: workspace(), env: { GITHUB_REF: 'refs/heads/main' } },
    );
    expect(run.code).toBe(0);
    const create = world.fake.requests
      .filter((r) => r.method === 'POST' && r.path === '/v13/deployments')
      .at(-1)!;
    expect((create.json as { files: { file: string }[] }).files.map((f) => f.file)).toEqual(['index.html']);
  });

  test('a project without env_pull fails the step with what to ask the admin', async () => {
    const run = await world.run(
      { path: 'site', pull: 'true', deploy: 'false' },
      { workspace: workspace(), env: { GITHUB_REF: 'refs/heads/main' } },
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /pulling environment variables failed \(forbidden: .*lists the names in env_pull/,
    );
    expect(world.fake.requests.filter((r) => r.path.includes('/env'))).toHaveLength(0);
  });
});

describe('stage, then promote', () => {
  test('a staged production deployment is promoted by a later job of the same commit', async () => {
    const live = await world.run(
      { project: 'web', target: 'production', path: 'site' },
      { workspace: workspace(), claims: PRODUCTION },
    );
    expect(live.code).toBe(0);
    const previous = live.outputs['deployment-id']!;
    expect(world.fake.productionOf('prj_web')).toBe(previous);

    const staged = await world.run(
      { project: 'web', target: 'production', path: 'site', stage: 'true' },
      { workspace: workspace(), claims: PRODUCTION },
    );
    expect(staged.code).toBe(0);
    const id = staged.outputs['deployment-id']!;
    expect(staged.outputs['ready-state']).toBe('READY');
    expect(staged.summary).toMatch(new RegExp(`staged: promote it with \`promote: ${id}\``));
    expect(world.fake.deployments.get(id)!.body).toMatchObject({ autoAssignCustomDomains: false });
    expect(world.fake.productionOf('prj_web')).toBe(previous);

    world.fake.clearRecord();
    const promoted = await world.run(
      { project: 'web', target: 'production', promote: staged.outputs['deployment-url']! },
      { workspace: workspace(), claims: PRODUCTION },
    );
    expect(promoted.code).toBe(0);
    expect(world.fake.productionOf('prj_web')).toBe(id);
    expect(promoted.outputs).toMatchObject({
      'deployment-id': id,
      'deployment-url': staged.outputs['deployment-url'],
      'ready-state': 'READY',
    });
    expect(promoted.summary).toMatch(/promoted: production serves this deployment/);
    expect(promoted.stdout).toMatch(new RegExp(`Production now serves ${id}`));
    // Nothing was uploaded or built: the reviewed deployment itself now serves production.
    expect(
      world.fake.requests.filter((r) => r.path === '/v2/files' || r.path === '/v13/deployments'),
    ).toEqual([]);
    expect(world.fake.requests.filter((r) => r.path.includes('/promote/'))).toHaveLength(1);
  });

  test('a promote from another commit fails the step and never reaches Vercel’s promote', async () => {
    const staged = await world.run(
      { project: 'web', target: 'production', path: 'site', stage: 'true' },
      { workspace: workspace(), claims: PRODUCTION },
    );
    expect(staged.code).toBe(0);
    world.fake.clearRecord();
    const other = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
    const run = await world.run(
      { project: 'web', target: 'production', promote: staged.outputs['deployment-id']! },
      { workspace: workspace(), claims: { ...PRODUCTION, sha: other }, env: { GITHUB_SHA: other } },
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /the promotion was refused \(forbidden: .*built from commit a3f1c0d2e4b5, this job runs for bbbbbbbbbbbb/,
    );
    expect(run.outputs['ready-state']).toBe('READY');
    expect(world.fake.requests.filter((r) => r.path.includes('/promote/'))).toHaveLength(0);
  });

  test('promote and stage are refused before any exchange when the inputs do not fit', async () => {
    const promoteOnPreview = await world.run(
      { project: 'web', promote: 'dpl_abc' },
      { workspace: workspace() },
    );
    expect(promoteOnPreview.code).toBe(1);
    expect(promoteOnPreview.stdout).toMatch(
      /Input "promote": points production at a staged deployment; set target: production/,
    );
    const stageOnPreview = await world.run({ project: 'web', stage: 'true' }, { workspace: workspace() });
    expect(stageOnPreview.stdout).toMatch(
      /Input "stage": stages a production deployment; set target: production/,
    );
    const notAnId = await world.run(
      { project: 'web', target: 'production', promote: 'https://x.vercel.app/path?q' },
      { workspace: workspace(), claims: PRODUCTION },
    );
    expect(notAnId.stdout).toMatch(/Input "promote": .* is not a deployment id/);
    expect(world.fake.requests).toHaveLength(0);
  });
});
