/** `keyhole-broker doctor` through the bundle, against a local GitHub: a healthy setup passes, each planted drift fails. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startGitHubApi, type FakeRepository, type GitHubApiFake } from '../../src/local/github-api/index.js';
import { BROKER_BUNDLE } from '../../src/local/runner.js';
import { brokerYaml, LOCAL_URLS } from '../../src/local/config.js';

const exec = promisify(execFile);
let github: GitHubApiFake;
let dir: string;
let configPath: string;

beforeAll(async () => {
  github = await startGitHubApi();
  dir = mkdtempSync(path.join(tmpdir(), 'keyhole-doctor-'));
  configPath = path.join(dir, 'broker.yaml');
  writeFileSync(
    configPath,
    brokerYaml(
      LOCAL_URLS,
      `github_app:\n  app_id: "${github.appId}"\n  private_key_env: KEYHOLE_GITHUB_APP_KEY\n  api_url: ${github.url}\n`,
    ),
  );
});
afterAll(async () => {
  await github.close();
  rmSync(dir, { recursive: true, force: true });
});

/** acme/marketing as the test config's production rule expects it. */
const healthy = (): FakeRepository => ({
  owner: 'acme',
  name: 'marketing',
  id: 123456789,
  ownerId: 987654,
  environments: [
    { name: 'production', reviewers: 2, branches: 'custom', policies: [{ name: 'main', type: 'branch' }] },
  ],
  files: ['refs/heads/main:.github/workflows/deploy.yml'],
});

async function doctor(...flags: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(
      process.execPath,
      [BROKER_BUNDLE, 'doctor', '--config', configPath, ...flags],
      {
        env: { PATH: process.env.PATH, KEYHOLE_GITHUB_APP_KEY: github.privateKey },
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('a healthy setup: every check passes, exit 0', async () => {
  github.setRepository(healthy());
  const { code, stdout } = await doctor();
  expect(stdout).toMatch(
    /^OK +marketing-site allow\[0\] +repository +acme\/marketing +repository and owner ids match$/m,
  );
  expect(stdout).toMatch(/^OK .*protection .*required reviewers$/m);
  expect(stdout).toMatch(/^OK .*branch policy .*admits only branch main$/m);
  expect(stdout).toMatch(/^OK .*workflow .*deploy\.yml@refs\/heads\/main .*exists at the pinned ref$/m);
  expect(stdout).toMatch(/0 failing, 0 warning, 4 ok/);
  expect(code).toBe(0);
});

const drifts: [string, (repo: FakeRepository) => void, RegExp, RegExp][] = [
  [
    'the environment was deleted',
    (r) => (r.environments = []),
    /FAIL .*environment .*acme\/marketing environment production .*does not exist/,
    /→ create environment "production" in acme\/marketing/,
  ],
  [
    'the required reviewers were removed',
    (r) => (r.environments![0]!.reviewers = 0),
    /FAIL .*protection .*neither required reviewers nor a wait timer/,
    /→ add required reviewers \(or a wait timer\)/,
  ],
  [
    'the branch restriction was removed',
    (r) => (r.environments![0]!.branches = null),
    /FAIL .*branch policy .*every branch may deploy/,
    /→ set Deployment branches and tags to "Selected branches and tags" with exactly: refs\/heads\/main/,
  ],
  [
    'the environment admits every protected branch',
    (r) => (r.environments![0]!.branches = 'protected'),
    /FAIL .*branch policy .*every protected branch may deploy/,
    /→ choose "Selected branches and tags"/,
  ],
  [
    'a wider branch pattern was added',
    (r) => r.environments![0]!.policies!.push({ name: 'release/*', type: 'branch' }),
    /FAIL .*branch policy .*admits branch release\/\*, which the rule does not allow/,
    /→ remove "release\/\*"/,
  ],
  [
    'the pinned workflow file was renamed',
    (r) => (r.files = ['refs/heads/main:.github/workflows/release.yml']),
    /FAIL .*workflow .*\.github\/workflows\/deploy\.yml does not exist at refs\/heads\/main/,
    /→ update the rule's workflows/,
  ],
  [
    'the repository was deleted and its name re-registered',
    (r) => (r.id = 999),
    /FAIL .*repository .*repository_id is 999 on GitHub, the rule pins 123456789/,
    /→ find out why before changing anything/,
  ],
  [
    'the repository was transferred to another owner',
    (r) => (r.ownerId = 111),
    /FAIL .*repository .*repository_owner_id is 111 on GitHub, the rule pins 987654/,
    /→ find out why/,
  ],
];

test.each(drifts)('drift: %s → a failing row with what to change, exit 1', async (_, plant, finding, fix) => {
  const repo = healthy();
  plant(repo);
  github.setRepository(repo);
  const { code, stdout } = await doctor();
  expect(stdout).toMatch(finding);
  expect(stdout).toMatch(fix);
  expect(code).toBe(1);
});

test('branch policies past the first page are not judged unseen: a list longer than one page is a warning, not OK', async () => {
  const repo = healthy();
  // 100 harmless entries, then one the rule does not allow: GitHub's default page (30) hides it.
  repo.environments![0]!.policies = [
    ...Array.from({ length: 100 }, () => ({ name: 'main', type: 'branch' as const })),
    { name: 'release/*', type: 'branch' as const },
  ];
  github.setRepository(repo);
  const { stdout } = await doctor();
  expect(stdout).toMatch(/WARN .*branch policy .*lists 101 branch policies; the doctor read the first 100/);
  expect(stdout).not.toMatch(/OK .*branch policy/);
});

test('a wait timer alone counts as protection; --json gives the findings for automation', async () => {
  const repo = healthy();
  repo.environments![0]!.reviewers = 0;
  repo.environments![0]!.waitTimerMinutes = 10;
  github.setRepository(repo);
  expect((await doctor()).code).toBe(0);
  repo.files = [];
  github.setRepository(repo);
  const { code, stdout } = await doctor('--json');
  expect(code).toBe(1);
  const report = JSON.parse(stdout) as {
    ok: boolean;
    findings: { status: string; check: string; fix?: string }[];
  };
  expect(report.ok).toBe(false);
  expect(report.findings).toContainEqual(
    expect.objectContaining({ status: 'fail', check: 'workflow', fix: expect.stringMatching(/workflows/) }),
  );
  expect(report.findings.filter((f) => f.status === 'ok').map((f) => f.check)).toEqual([
    'repository',
    'protection',
    'branch policy',
  ]);
});

test('GitHub unreachable, or no github_app: doctor fails and says why', async () => {
  github.setRepository(healthy());
  github.setAvailable(false);
  try {
    const { code, stdout } = await doctor();
    expect(code).toBe(1);
    expect(stdout).toMatch(/FAIL .*GitHub could not be asked/);
  } finally {
    github.setAvailable(true);
  }
  const bare = path.join(dir, 'bare.yaml');
  writeFileSync(bare, brokerYaml(LOCAL_URLS));
  const result = await exec(process.execPath, [BROKER_BUNDLE, 'doctor', '--config', bare]).catch(
    (error: { code: number; stderr: string }) => error,
  );
  expect(result).toMatchObject({
    code: 1,
    stderr: expect.stringMatching(/the config has no github_app; add one/),
  });
});

test('doctor reads the app key as serve does: --env-file, and <NAME>_FILE', async () => {
  github.setRepository(healthy());
  const keyFile = path.join(dir, 'app-key.pem');
  writeFileSync(keyFile, github.privateKey);
  const envFile = path.join(dir, 'broker.env');
  writeFileSync(envFile, `KEYHOLE_GITHUB_APP_KEY_FILE=${keyFile}\n`);
  const run = (env: Record<string, string>, ...flags: string[]) =>
    exec(process.execPath, [BROKER_BUNDLE, 'doctor', '--config', configPath, ...flags], {
      env: { PATH: process.env.PATH, ...env },
    }).then(
      ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
  const fromEnvFile = await run({}, '--env-file', envFile);
  expect(fromEnvFile.stdout).toMatch(/0 failing, 0 warning, 4 ok/);
  expect(fromEnvFile.code).toBe(0);
  const fromFile = await run({ KEYHOLE_GITHUB_APP_KEY_FILE: keyFile });
  expect(fromFile.stdout).toMatch(/0 failing, 0 warning, 4 ok/);
  expect(fromFile.code).toBe(0);
});

test('an environment fenced off by promote_environments only stages: no reviewers needed, reported as such', async () => {
  const stagingConfig = path.join(dir, 'staging.yaml');
  writeFileSync(
    stagingConfig,
    brokerYaml(
      LOCAL_URLS,
      `github_app:\n  app_id: "${github.appId}"\n  private_key_env: KEYHOLE_GITHUB_APP_KEY\n  api_url: ${github.url}\n`,
    )
      .replace('environments: [production]', 'environments: [production-build, production]')
      .replace('  marketing-site:\n', '  marketing-site:\n    promote_environments: [production]\n'),
  );
  const repo = healthy();
  repo.environments!.push({
    name: 'production-build',
    branches: 'custom',
    policies: [{ name: 'main', type: 'branch' }],
  });
  github.setRepository(repo);
  const { code, stdout } = await exec(
    process.execPath,
    [BROKER_BUNDLE, 'doctor', '--config', stagingConfig],
    {
      env: { PATH: process.env.PATH, KEYHOLE_GITHUB_APP_KEY: github.privateKey },
    },
  ).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => e,
  );
  expect(stdout).toMatch(
    /^OK .*protection +acme\/marketing environment production-build +stages only \(not in promote_environments\)/m,
  );
  expect(stdout).toMatch(/^OK .*protection +acme\/marketing environment production +required reviewers$/m);
  expect(code).toBe(0);
});
