/**
 * `npm run try` as the README tells a user to run it: `npm run try -- …` from a shell whose `node`
 * may be older than 24, on the example config and workflows, an allowed job, a refused one, doctor,
 * and the mistakes a user makes on the command line.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../src/local/runner.js';
import { FAKE_VERCEL_TOKEN } from '../../src/local/try/setup.js';

/**
 * The shell's PATH without this Node 24's folder when another node is on it (a user's Node 20):
 * `npm run try` must re-run itself on Node 24 as `npm run demo` does.
 */
function userPath(): string {
  const mine = path.dirname(process.execPath);
  const others = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== mine);
  return others.some((dir) => existsSync(path.join(dir, 'node')))
    ? others.join(path.delimiter)
    : process.env.PATH!;
}

async function tryRun(
  cwd: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)('npm', ['run', '--silent', 'try', '--', ...args], {
      cwd,
      env: { ...process.env, PATH: userPath(), NO_COLOR: '1' },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const examples = path.join(REPO_ROOT, 'examples');

test('the example config allows the example preview workflow: exit 0, READY, the rule, the deployment and the summary', async () => {
  // From examples/, as a user in their own repository: paths are relative to where they typed.
  const run = await tryRun(
    examples,
    '--config',
    'broker.yaml',
    '--workflow',
    'workflows/preview.yml',
    '--workspace',
    '.',
  );
  expect(run.stdout).toMatch(
    /^ {3}ALLOWED: project marketing-site, target preview, by rule 2 of marketing-site$/m,
  );
  expect(run.stdout).toMatch(/^ {3}exchange allow marketing-site {2}allowed by rule 2 of marketing-site$/m);
  expect(run.stdout).toMatch(/^ {3}deployment-url https:\/\/marketing-site-\S+$/m);
  expect(run.stdout).toMatch(/^ {3}ready-state {4}READY$/m);
  expect(run.stdout).toMatch(/^ {3}│ ✅ Keyhole deploy of marketing-site$/m);
  expect(run.stdout).toMatch(/READY: this config allows this job\./);
  expect(run.stdout).toMatch(/The pull request comment\n/); // comment: true, on pull request 1
  // The workflow's `${{ }}` free inputs were used: path: site under the workspace.
  expect(run.stdout).toMatch(/Files +2 uploaded/);
  expect(run.stdout + run.stderr).not.toContain(FAKE_VERCEL_TOKEN);
  expect(run.stdout).not.toMatch(/add-mask/);
  expect(run.code).toBe(0);
});

test('a job the policy refuses: exit 3 with every rule and why it does not match', async () => {
  const run = await tryRun(
    REPO_ROOT,
    '--config',
    'examples/broker.yaml',
    '--project',
    'marketing-site',
    '--target',
    'production',
    '--ref',
    'refs/heads/feature/x',
    '--input',
    'path=examples/site',
  );
  expect(run.stdout).toMatch(/DENIED: no rule of project marketing-site allows target production/);
  expect(run.stdout).toMatch(/- ref refs\/heads\/feature\/x may not deploy to production/);
  expect(run.stdout).toMatch(/403 policy_denied/);
  expect(run.stdout).toMatch(/Refused by the policy \(exit 3\)/);
  expect(run.code).toBe(3);
});

test("the user's own small config and claims file: the names and ids it gives reach the fake as written", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyhole-try-test-'));
  try {
    writeFileSync(
      path.join(dir, 'keyhole.yaml'),
      [
        'audience: https://keyhole.mycorp.dev',
        'public_url: https://keyhole.mycorp.dev',
        'replay_store_env: KEYHOLE_REDIS_URL',
        'projects:',
        '  docs:',
        '    team_id: team_mycorp',
        '    project_id: prj_docs42',
        '    token_env: VERCEL_TOKEN_DOCS',
        '    require_dpop: true',
        '    allow:',
        '      - repository: mycorp/docs',
        '        repository_id: "555"',
        '        repository_owner_id: "777"',
        '        targets: [preview]',
        "        refs: ['refs/heads/**']",
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(dir, 'index.html'), '<h1>docs</h1>\n');
    writeFileSync(
      path.join(dir, 'claims.json'),
      JSON.stringify({
        repository: 'mycorp/docs',
        repository_id: '555',
        repository_owner_id: '777',
        ref: 'refs/heads/fix',
      }),
    );
    // From the clone of Keyhole, pointing at the user's own repository, as the README says.
    const mine = ['--config', path.join(dir, 'keyhole.yaml'), '--claims', path.join(dir, 'claims.json')];
    const run = await tryRun(REPO_ROOT, ...mine, '--workspace', dir, '--input', 'path=.');
    expect(run.stdout).toMatch(/credential for docs \(prj_docs42\) → preview/);
    expect(run.stdout).toMatch(/replay_store: memory/);
    expect(run.stdout).toMatch(/ready-state {4}READY/);
    expect(run.code).toBe(0);
    // The same job from another repository: refused by the rule's repository, exit 3.
    const other = await tryRun(REPO_ROOT, ...mine, '--repository', 'mycorp/blog', '--workspace', dir);
    expect(other.stdout).toMatch(/not for this repository/);
    expect(other.code).toBe(3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--doctor runs keyhole-broker doctor against a local GitHub seeded from the config', async () => {
  const run = await tryRun(REPO_ROOT, '--config', 'examples/broker.yaml', '--doctor');
  expect(run.stdout).toMatch(
    /OK +marketing-site allow\[0\] +branch policy +acme\/marketing environment production +admits only branch main/,
  );
  expect(run.stdout).toMatch(/0 failing, 0 warning, 4 ok/);
  expect(run.code).toBe(0);
});

test.each([
  [['--config', 'examples/broker.yaml', '--bogus'], /npm run try: unknown flag --bogus/],
  [['--config'], /npm run try: --config needs a value/],
  [['--project', 'marketing-site'], /npm run try: --config <broker\.yaml> is required/],
  [
    ['--config', 'examples/broker.yaml', '--project', 'nope'],
    /project nope is not in .*broker\.yaml \(projects: marketing-site, billing\)/,
  ],
  [['--config', 'examples/broker.yaml', '--input', 'path'], /--input must be key=value, got "path"/],
  [
    ['--config', 'examples/broker.yaml', '--ref', 'main'],
    /--ref must be a full ref such as refs\/heads\/main/,
  ],
])('a command-line mistake %j: what to change and the usage, exit 1', async (args, message) => {
  const run = await tryRun(REPO_ROOT, ...args);
  expect(run.stderr).toMatch(message);
  expect(run.stderr).toMatch(/Usage: npm run try -- --config <broker\.yaml>/);
  expect(run.stderr).not.toMatch(/positional argument|ERR_PARSE_ARGS/);
  expect(run.code).toBe(1);
});
