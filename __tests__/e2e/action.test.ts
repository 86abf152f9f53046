/** The committed action bundle, run as a runner runs it, through the bundled broker, against the strict fake. */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  deploymentFollowed,
  startBundledWorld,
  withoutMaskCommands,
  type BundledWorld,
} from '../../src/local/bundled.js';
import { UPSTREAM_TOKEN } from '../../src/local/world.js';

let world: BundledWorld;
const sha1 = (data: string) => createHash('sha1').update(data).digest('hex');

beforeAll(async () => {
  world = await startBundledWorld({ fake: { buildMs: 150 } });
});
afterAll(() => world.close());
beforeEach(() => world.fake.clearRecord());

function site(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(world.dir, 'ws-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, 'site', name)), { recursive: true });
    writeFileSync(path.join(dir, 'site', name), content);
  }
  return dir;
}

const uploads = () => world.fake.requests.filter((r) => r.path === '/v2/files');
const creates = () => world.fake.requests.filter((r) => r.method === 'POST' && r.path === '/v13/deployments');
const createdFiles = () =>
  (creates().at(-1)!.json as { files: { file: string; mode: number; sha: string }[] }).files;

test('a source deploy reaches READY and reports URL, outputs and summary', async () => {
  const workspace = site({ 'index.html': '<h1>hello</h1>', 'css/style.css': 'body{}' });
  const run = await world.run({ path: 'site' }, { workspace });
  expect(run.code).toBe(0);
  expect(run.outputs['ready-state']).toBe('READY');
  expect(run.outputs['deployment-url']).toMatch(/^https:\/\/marketing-site-.*\.vercel\.app$/);
  expect(run.outputs['deployment-id']).toMatch(/^dpl_/);
  expect(run.outputs['inspector-url']).toMatch(/^https:\/\/vercel\.com\//);
  expect(run.summary).toMatch(/Keyhole deploy of marketing-site/);
  expect(run.summary).toMatch(/2 uploaded, 0 already on Vercel/);
  expect(run.stdout).toMatch(/::group::Build log of dpl_/);
  expect(run.stdout).toMatch(/Build Completed/);
  expect(
    createdFiles()
      .map((f) => f.file)
      .sort(),
  ).toEqual(['css/style.css', 'index.html']);
  expect(creates()[0]!.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
});

test('a prebuilt deploy keeps symlinks and executable modes', async () => {
  const workspace = site({
    '.vercel/output/config.json': '{"version":3}',
    '.vercel/output/builds.json': '{"target":"preview","builds":[]}',
    '.vercel/output/static/index.html': '<h1>prebuilt</h1>',
    '.vercel/output/functions/api.func/.vc-config.json':
      '{"runtime":"provided.al2023","handler":"bootstrap"}',
    '.vercel/output/functions/api.func/bootstrap': '#!/bin/sh\necho hi\n',
    'src/app.ts': 'never uploaded in prebuilt mode',
  });
  const out = path.join(workspace, 'site', '.vercel', 'output');
  chmodSync(path.join(out, 'functions/api.func/bootstrap'), 0o755);
  symlinkSync('index.html', path.join(out, 'static/home.html'));
  const run = await world.run({ path: 'site', prebuilt: 'true' }, { workspace });
  expect(run.code).toBe(0);
  expect(creates().every((r) => r.query.prebuilt === '1')).toBe(true);
  const files = Object.fromEntries(createdFiles().map((f) => [f.file, f]));
  expect(Object.keys(files).sort()).toEqual([
    '.vercel/output/builds.json',
    '.vercel/output/config.json',
    '.vercel/output/functions/api.func/.vc-config.json',
    '.vercel/output/functions/api.func/bootstrap',
    '.vercel/output/static/home.html',
    '.vercel/output/static/index.html',
  ]);
  expect(files['.vercel/output/functions/api.func/bootstrap']!.mode).toBe(0o100755);
  expect(files['.vercel/output/static/home.html']!.mode).toBe(0o120777);
  expect(files['.vercel/output/static/home.html']!.sha).toBe(sha1('index.html'));
  expect(world.fake.blobs.get(sha1('index.html'))?.data?.toString()).toBe('index.html');
});

test('a prebuilt deploy built for another target fails before uploading, with the command to run', async () => {
  const workspace = site({
    '.vercel/output/builds.json': '{"target":"production"}',
    '.vercel/output/config.json': '{}',
  });
  const run = await world.run({ path: 'site', prebuilt: 'true' }, { workspace });
  expect(run.code).not.toBe(0);
  expect(run.stdout).toMatch(/built for production, but target is preview; run "vercel build"/);
  expect(uploads()).toHaveLength(0);
});

test('ignored files are never uploaded', async () => {
  const workspace = site({
    'index.html': 'ok',
    'node_modules/pkg/index.js': 'ignored by default',
    '.env.local': 'SECRET=1',
    '.git/config': 'ignored',
    'notes/private.md': 'ignored by .vercelignore',
    '.vercelignore': 'notes/\n',
  });
  const run = await world.run({ path: 'site' }, { workspace });
  expect(run.code).toBe(0);
  expect(createdFiles().map((f) => f.file)).toEqual(['index.html']);
  expect(world.fake.blobs.has(sha1('SECRET=1'))).toBe(false);
  expect(world.fake.blobs.has(sha1('ignored by .vercelignore'))).toBe(false);
});

test('a redeploy after changing one file uploads exactly that file', async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 40; i++) files[`page-${i}.html`] = `<p>page ${i} of the redeploy test</p>`;
  const workspace = site(files);
  expect((await world.run({ path: 'site' }, { workspace })).code).toBe(0);
  expect(uploads()).toHaveLength(40);
  world.fake.clearRecord();
  writeFileSync(path.join(workspace, 'site', 'page-7.html'), '<p>changed</p>');
  const run = await world.run({ path: 'site' }, { workspace });
  expect(run.code).toBe(0);
  expect(uploads()).toHaveLength(1);
  expect(uploads()[0]!.headers['x-now-digest']).toBe(sha1('<p>changed</p>'));
  expect(run.summary).toMatch(/1 uploaded, 39 already on Vercel/);
});

test('a failed build fails the step but still sets every output', async () => {
  const workspace = site({ 'index.html': 'x', FAIL_BUILD: 'make the fake build fail' });
  const run = await world.run({ path: 'site' }, { workspace });
  expect(run.code).toBe(1);
  expect(run.outputs['ready-state']).toBe('ERROR');
  expect(run.outputs['deployment-url']).toMatch(/^https:\/\//);
  expect(run.outputs['deployment-id']).toMatch(/^dpl_/);
  expect(run.stdout).toMatch(/::error::The deployment ended ERROR: Command "npm run build" exited with 1/);
  expect(run.summary).toMatch(/ERROR/);
});

test("a denied project fails with the broker's reason and what to do", async () => {
  const run = await world.run(
    { project: 'billing', path: 'site' },
    { workspace: site({ 'index.html': 'x' }) },
  );
  expect(run.code).toBe(1);
  expect(run.stdout).toMatch(
    /403 policy_denied.*repository acme\/marketing may not deploy project "billing"/,
  );
  expect(run.stdout).toMatch(/policy explain/);
  expect(world.fake.requests).toHaveLength(0);
});

test('production from a feature branch is refused with the claim that did not match', async () => {
  const run = await world.run(
    { target: 'production', path: 'site' },
    {
      workspace: site({ 'index.html': 'x' }),
      claims: { ref: 'refs/heads/feature', environment: 'production' },
    },
  );
  expect(run.code).toBe(1);
  expect(run.stdout).toMatch(/ref refs\/heads\/feature may not deploy to production/);
});

test('production from main through the protected environment deploys', async () => {
  const run = await world.run(
    { target: 'production', path: 'site' },
    { workspace: site({ 'index.html': 'prod' }), claims: { environment: 'production' } },
  );
  expect(run.code).toBe(0);
  expect((creates().at(-1)!.json as { target: string }).target).toBe('production');
});

test('without id-token: write the step fails with the exact permissions YAML', async () => {
  const run = await world.run({ path: 'site' }, { workspace: site({ 'index.html': 'x' }), oidc: undefined });
  expect(run.code).toBe(1);
  expect(run.stdout).toContain('permissions:%0A  id-token: write');
  expect(run.stdout).toMatch(/Fork pull requests and Dependabot runs never receive OIDC tokens/);
});

test('bad inputs are named with the fix', async () => {
  const run = await world.run({ path: '../outside' }, { workspace: site({ 'index.html': 'x' }) });
  expect(run.code).toBe(1);
  expect(run.stdout).toMatch(/Input "path": "..\/outside" points outside the workspace/);
  const empty = await world.run(
    { path: 'site' },
    { workspace: site({ 'node_modules/x.js': 'only ignored files' }) },
  );
  expect(empty.stdout).toMatch(/has no files to deploy/);
});

test('every bad input fails the step in one message, with "did you mean" for the target', async () => {
  const workspace = site({ 'index.html': 'x' });
  const run = await world.run(
    { path: '../outside', target: 'Production', 'timeout-minutes': 'ten' },
    { workspace },
  );
  expect(run.code).toBe(1);
  const message = [
    '3 inputs need a change:',
    '- Input "target": "Production" must be preview, production or a custom environment slug, in lower case; did you mean "production"?',
    `- Input "path": "../outside" points outside the workspace ${workspace}`,
    '- Input "timeout-minutes": must be a number of minutes between 0 and 360, got "ten"',
  ];
  expect(run.stdout).toContain(`::error::${message.join('%0A')}`);
  // The message is quoted as a code block (issue 24: it may carry Vercel's or an artifact's text).
  expect(run.summary).toContain(
    `> [!CAUTION]\n> The step failed:\n\n\`\`\`text\n${message.join('\n')}\n\`\`\``,
  );
  expect(world.fake.requests).toHaveLength(0);
});

test('credential-only mode exports a masked credential for the official CLI', async () => {
  const run = await world.run({ deploy: 'false' }, { workspace: site({ 'index.html': 'x' }) });
  expect(run.code).toBe(0);
  const credential = run.outputs.credential!;
  expect(credential).toMatch(/^khd_/);
  // Masked before it is used anywhere: the add-mask command precedes every other mention.
  const maskAt = run.stdout.indexOf(`::add-mask::${credential}`);
  expect(maskAt).toBeGreaterThanOrEqual(0);
  expect(withoutMaskCommands(run.stdout)).not.toContain(credential);
  expect(run.exported).toMatchObject({
    VERCEL_TOKEN: credential,
    VERCEL_ORG_ID: 'team_abc123',
    VERCEL_PROJECT_ID: 'prj_marketing',
    KEYHOLE_API_URL: world.broker.url,
  });
  expect(world.fake.requests).toHaveLength(0);
});

test('a cancelled job cancels its deployment', async () => {
  const slow = await startBundledWorld({ fake: { buildMs: 20_000 } });
  try {
    const workspace = mkdtempSync(path.join(slow.dir, 'ws-'));
    mkdirSync(path.join(workspace, 'site'));
    writeFileSync(path.join(workspace, 'site', 'index.html'), 'x');
    // Cancelled once the deploy is under way, not after a delay a loaded machine may not meet.
    const run = await slow.run({ path: 'site' }, { workspace, cancelWhen: deploymentFollowed(slow) });
    expect(run.code).not.toBe(0);
    const [deployment] = [...slow.fake.deployments.values()];
    expect(deployment?.canceled).toBe(true);
    expect(slow.fake.requests.some((r) => r.method === 'PATCH' && r.path.endsWith('/cancel'))).toBe(true);
  } finally {
    await slow.close();
  }
});

test('nothing the action or the broker printed carries the upstream token, an OIDC token or the credential', async () => {
  const run = await world.run({ path: 'site' }, { workspace: site({ 'index.html': 'hygiene' }) });
  expect(run.code).toBe(0);
  const credential = /::add-mask::(khd_\S+)/.exec(run.stdout)![1]!;
  const jwt = /::add-mask::(eyJ\S+)/.exec(run.stdout)![1]!;
  const printed = [
    withoutMaskCommands(run.stdout),
    run.stderr,
    JSON.stringify(run.outputs),
    run.summary,
    world.broker.stdout(),
    world.broker.stderr(),
  ].join('\n');
  for (const secret of [UPSTREAM_TOKEN, credential, jwt]) expect(printed).not.toContain(secret);
});
