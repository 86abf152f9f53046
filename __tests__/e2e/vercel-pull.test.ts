/**
 * The official CLI's pull → build → deploy --prebuilt through the bundled broker: the build sees the
 * names env_pull lists, and the project's secrets reach neither the workspace, the logs nor the outputs.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { AUDIENCE } from '../../src/local/config.js';
import { NEWEST_VERCEL_CLI, PINNED_VERCEL_CLI, runVercel, vercelCli } from '../../src/local/vercel-cli.js';
import { WEB_ENV, WEB_FAKE_PROJECTS, WEB_PROJECT, WEB_SECRETS } from '../../src/local/web-project.js';

/** Everything secret about prj_web: values, their names, and the OIDC token Vercel adds to every pull. */
const FORBIDDEN = [
  ...WEB_SECRETS,
  'DATABASE_URL',
  'STRIPE_SECRET_KEY',
  'WEBHOOK_SIGNING_SECRET',
  'VERCEL_OIDC_TOKEN',
  'fake-oidc',
];

let world: BundledWorld;
const dirs: string[] = [];

beforeAll(async () => {
  world = await startBundledWorld({
    config: { projects: { web: WEB_PROJECT } },
    fake: { projects: WEB_FAKE_PROJECTS, env: WEB_ENV },
  });
});
afterAll(async () => {
  await world.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};

async function credentialFor(claims: Record<string, string>, target: string): Promise<string> {
  world.issuer.setJob(claims);
  const token = await world.issuer.mint(AUDIENCE);
  const response = await fetch(`${world.broker.url}/v1/exchange`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, project: 'web', target }),
  });
  const body = (await response.json()) as { credential?: string };
  if (!body.credential) throw new Error(`exchange refused: ${JSON.stringify(body)}`);
  return body.credential;
}

/** A site whose build bakes NEXT_PUBLIC_API_URL into its page, the way a framework build would. */
function site(): string {
  const dir = tempDir('keyhole-pull-site-');
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'web', private: true, scripts: { build: 'node build.mjs' } }),
  );
  writeFileSync(
    path.join(dir, 'build.mjs'),
    [
      "import { mkdirSync, writeFileSync } from 'node:fs';",
      "mkdirSync('public', { recursive: true });",
      "writeFileSync('public/index.html', `<p>api: ${process.env.NEXT_PUBLIC_API_URL ?? 'unset'}</p>`);",
      // What a careless build might do: print every variable it was given.
      "console.log('build env keys:', Object.keys(process.env).filter((k) => !k.startsWith('npm_')).join(','));",
    ].join('\n'),
  );
  return dir;
}

const vercel = (cli: string, cwd: string, home: string, credential: string, ...args: string[]) =>
  runVercel({ cli, cwd, home, api: world.broker.url, credential, projectId: 'prj_web' }, ...args);

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

describe.each([
  ['pinned', () => Promise.resolve(PINNED_VERCEL_CLI)],
  [NEWEST_VERCEL_CLI, () => vercelCli(NEWEST_VERCEL_CLI)],
])('vercel %s', (_version, obtain) => {
  test('pull --environment=preview → build → deploy --prebuilt sees only the listed names', async () => {
    const cli = await obtain();
    const cwd = site();
    const home = tempDir('keyhole-pull-home-');
    const credential = await credentialFor({ ref: 'refs/heads/main' }, 'preview');
    world.fake.clearRecord();
    const brokerLogStart = world.broker.stdout().length + world.broker.stderr().length;

    const pull = await vercel(cli, cwd, home, credential, 'pull', '--environment=preview');
    expect(pull.output).toMatch(/Downloaded project settings/);
    expect(pull.code).toBe(0);
    const envFile = readFileSync(path.join(cwd, '.vercel', '.env.preview.local'), 'utf8');
    expect(envFile).toBe('# Created by Vercel CLI\nNEXT_PUBLIC_API_URL="https://api.preview.acme.example"\n');
    expect(JSON.parse(readFileSync(path.join(cwd, '.vercel', 'project.json'), 'utf8'))).toMatchObject({
      projectId: 'prj_web',
      orgId: 'team_abc123',
    });

    const build = await vercel(cli, cwd, home, credential, 'build');
    expect(build.code).toBe(0);
    expect(build.output).toMatch(/build env keys:.*NEXT_PUBLIC_API_URL/);
    expect(readFileSync(path.join(cwd, '.vercel', 'output', 'static', 'index.html'), 'utf8')).toBe(
      '<p>api: https://api.preview.acme.example</p>',
    );

    const deploy = await vercel(cli, cwd, home, credential, 'deploy', '--prebuilt');
    expect(deploy.output).toMatch(/Ready in|Preview: https:/);
    expect(deploy.code).toBe(0);
    const [deployment] = [...world.fake.deployments.values()].slice(-1);
    expect(deployment).toMatchObject({ projectId: 'prj_web', prebuilt: true, target: null });

    // The env pull went upstream once; Vercel's answer held every secret, the broker passed none on.
    expect(world.fake.requests.filter((r) => r.path.startsWith('/v3/env/pull/'))).toHaveLength(1);
    const uploaded = world.fake.requests.filter((r) => r.path === '/v2/files').length;
    expect(uploaded).toBeGreaterThan(0);
    const outputs = [
      pull.output,
      build.output,
      deploy.output,
      (world.broker.stdout() + world.broker.stderr()).slice(brokerLogStart),
      JSON.stringify(deployment!.body),
      ...[...world.fake.blobs.values()].map((blob) => blob.data?.toString('utf8') ?? ''),
      ...filesUnder(cwd).map((file) => readFileSync(file, 'utf8')),
      ...filesUnder(home).map((file) => readFileSync(file, 'utf8')),
    ].join('\n');
    for (const secret of FORBIDDEN) expect(outputs).not.toContain(secret);
  }, 240_000);

  test('production: pull → build --prod → deploy --prebuilt --prod --skip-domain stages it; the action promotes it', async () => {
    const cli = await obtain();
    const cwd = site();
    const home = tempDir('keyhole-pull-home-');
    const credential = await credentialFor({ environment: 'production' }, 'production');
    const before = world.fake.productionOf('prj_web');
    world.fake.clearRecord();

    const pull = await vercel(cli, cwd, home, credential, 'pull', '--environment=production');
    expect(pull.code).toBe(0);
    expect(readFileSync(path.join(cwd, '.vercel', '.env.production.local'), 'utf8')).toBe(
      '# Created by Vercel CLI\nNEXT_PUBLIC_API_URL="https://api.acme.example"\nNEXT_PUBLIC_FEATURE_SEED=""\n',
    );
    // A listed sensitive variable arrives empty; the CLI's lookup of its type (GET /v10/projects/:id/env,
    // which lists every variable) is refused, and the CLI writes the empty value.
    expect(world.fake.requests.filter((r) => /^\/v10\/projects\/[^/]+\/env$/.test(r.path))).toEqual([]);
    expect(
      world.broker
        .auditLines()
        .some((l) => l.decision === 'deny' && String(l.route).startsWith('GET /v10/projects/prj_web/env')),
    ).toBe(true);
    expect((await vercel(cli, cwd, home, credential, 'build', '--prod')).code).toBe(0);
    const deploy = await vercel(
      cli,
      cwd,
      home,
      credential,
      'deploy',
      '--prebuilt',
      '--prod',
      '--skip-domain',
    );
    expect(deploy.code).toBe(0);
    const [staged] = [...world.fake.deployments.values()].slice(-1);
    expect(staged).toMatchObject({ projectId: 'prj_web', target: 'production', staged: true });
    expect((staged!.body.meta as Record<string, string>).keyholeStaged).toBe('1');
    expect(world.fake.productionOf('prj_web')).toBe(before);

    const promoted = await world.run(
      { project: 'web', target: 'production', promote: staged!.id },
      { claims: { environment: 'production' } },
    );
    expect(promoted.code).toBe(0);
    expect(world.fake.productionOf('prj_web')).toBe(staged!.id);
    expect(
      [deploy.output, promoted.stdout, ...filesUnder(cwd).map((f) => readFileSync(f, 'utf8'))].join('\n'),
    ).not.toContain(WEB_SECRETS[0]!);
  }, 240_000);
});
