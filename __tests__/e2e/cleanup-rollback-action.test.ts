/**
 * Preview clean-up and rollback end to end: the bundled action runs the steps of
 * examples/workflows/cleanup.yml and rollback.yml as written, through the bundled broker, against
 * the strict fake; what the broker did not create for this branch (or for production) stays.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { auditLine, startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { REPO_ROOT } from '../../src/local/runner.js';

interface Step {
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Workflow {
  jobs: Record<string, { environment?: string; steps: Step[] }>;
}

const MARKETING = { repository: 'acme/marketing', repository_id: '123456789', repository_owner_id: '987654' };
const WORKFLOWS = 'acme/marketing/.github/workflows';
let world: BundledWorld;

beforeAll(async () => {
  world = await startBundledWorld({
    config: {
      projects: {
        'marketing-site': {
          cleanup_previews: true,
          preview_aliases: ['*.preview.acme.dev'],
          rollback_environments: ['production'],
          allow: [
            {
              ...MARKETING,
              targets: ['production'],
              environments: ['production', 'staging'],
              refs: ['refs/heads/main'],
              workflows: [
                `${WORKFLOWS}/deploy.yml@refs/heads/main`,
                `${WORKFLOWS}/rollback.yml@refs/heads/main`,
              ],
              events: ['push', 'workflow_dispatch'],
            },
            { ...MARKETING, targets: ['preview'], refs: ['refs/heads/**', 'refs/pull/*/merge'] },
          ],
        },
      },
    },
  });
});
afterAll(() => world.close());

const example = (name: string) =>
  parse(readFileSync(path.join(REPO_ROOT, 'examples', 'workflows', name), 'utf8')) as Workflow;

/** The Keyhole step's `with:` block of a job, expressions replaced as the runner would. */
function keyholeInputs(step: Step, expressions: Record<string, string> = {}): Record<string, string> {
  return Object.fromEntries(
    Object.entries(step.with ?? {})
      .filter(([key]) => key !== 'broker-url')
      .map(([key, value]) => [
        key,
        String(value).replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, e: string) => expressions[e] ?? ''),
      ]),
  );
}

/** A `run:` step with its `env:`, the step outputs filled in: what the job log shows. */
async function runStep(step: Step, outputs: Record<string, string>, id: string) {
  const env = Object.fromEntries(
    Object.entries(step.env ?? {}).map(([key, value]) => [
      key,
      value.replace(/\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}/g, (_, s: string, o: string) =>
        s === id ? (outputs[o] ?? '') : '',
      ),
    ]),
  );
  const { stdout } = await promisify(execFile)('sh', ['-e', '-c', step.run!], {
    env: { PATH: process.env.PATH, ...env },
  });
  return stdout;
}

function site(): string {
  const dir = mkdtempSync(path.join(world.dir, 'ws-'));
  mkdirSync(path.join(dir, 'site'));
  writeFileSync(path.join(dir, 'site', 'index.html'), `<h1>${path.basename(dir)}</h1>`);
  return dir;
}

function pullRequestJob(number: number, action = 'synchronize') {
  const workspace = site();
  const event = path.join(workspace, 'event.json');
  writeFileSync(
    event,
    JSON.stringify({ action, pull_request: { number, head: { ref: `feature/${number}` } } }),
  );
  return {
    workspace,
    env: { GITHUB_EVENT_PATH: event, GITHUB_EVENT_NAME: 'pull_request', GITHUB_REF_NAME: `${number}/merge` },
    claims: { ref: `refs/pull/${number}/merge`, event_name: 'pull_request' },
  };
}

const preview = async (number: number) => {
  const run = await world.run({ path: 'site', alias: 'pr-{pr}.preview.acme.dev' }, pullRequestJob(number));
  expect(run.code).toBe(0);
  return run.outputs['deployment-id']!;
};

const production = async (environment = 'production') => {
  const run = await world.run(
    { target: 'production', path: 'site' },
    {
      workspace: site(),
      claims: { environment, job_workflow_ref: `${WORKFLOWS}/deploy.yml@refs/heads/main` },
    },
  );
  expect(run.code).toBe(0);
  return run.outputs['deployment-id']!;
};

const writes = () => world.fake.requests.filter((r) => r.method !== 'GET');

describe('cleanup.yml', () => {
  test('a closed pull request’s alias and previews are removed; other branches and production stay', async () => {
    const live = await production();
    const [first, second] = [await preview(21), await preview(21)];
    const other = await preview(22);
    expect(world.fake.aliases.get('pr-21.preview.acme.dev')).toBe(second);

    const job = example('cleanup.yml').jobs.cleanup!;
    const keyhole = job.steps.find((s) => s.uses?.includes('keyhole'))!;
    world.fake.clearRecord();
    const run = await world.run(keyholeInputs(keyhole), pullRequestJob(21, 'closed'));
    expect(run.stdout).toContain('Removed the alias pr-21.preview.acme.dev');
    expect(run.code).toBe(0);
    expect(world.fake.deployments.has(first)).toBe(false);
    expect(world.fake.deployments.has(second)).toBe(false);
    expect(world.fake.aliases.has('pr-21.preview.acme.dev')).toBe(false);
    expect(world.fake.deployments.has(other)).toBe(true);
    expect(world.fake.aliases.get('pr-22.preview.acme.dev')).toBe(other);
    expect(world.fake.deployments.has(live)).toBe(true);
    expect(writes().map((r) => `${r.method} ${r.path}`)).toEqual([
      'DELETE /v2/aliases/pr-21.preview.acme.dev',
      `DELETE /v13/deployments/${second}`,
      `DELETE /v13/deployments/${first}`,
    ]);
    expect(run.outputs['deleted-deployments']).toBe(`${second},${first}`);
    expect(run.summary).toMatch(/Keyhole preview clean-up of marketing-site/);
    expect(run.summary).toContain('`pr-21.preview.acme.dev`');
    expect(await auditLine(world.broker, (l) => l.route === 'delete-alias')).toMatchObject({
      decision: 'allow',
      deleted_alias: 'pr-21.preview.acme.dev',
      ref: 'refs/pull/21/merge',
    });

    const echo = job.steps.find((s) => s.run)!;
    expect(await runStep(echo, run.outputs, keyhole.id!)).toBe(
      `Deleted ${second},${first}; removed pr-21.preview.acme.dev\n`,
    );

    // Run again (a re-run of the job): nothing is left, and that is a success.
    const again = await world.run(keyholeInputs(keyhole), pullRequestJob(21, 'closed'));
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to clean up');
  });

  test('a partial clean-up fails the step and names what is left', async () => {
    const left = await preview(23);
    // Vercel refuses the delete of this one deployment.
    world.fake.inject({ kind: 403, method: 'DELETE', path: `/v13/deployments/${left}` });
    const run = await world.run({ cleanup: 'true' }, pullRequestJob(23, 'closed'));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      new RegExp(`the clean-up is partial: 1 item\\(s\\) were not removed:[\\s\\S]*deployment ${left}`),
    );
    expect(world.fake.deployments.has(left)).toBe(true);
    expect(world.fake.aliases.has('pr-23.preview.acme.dev')).toBe(false);
  });

  test('a project without cleanup_previews refuses the clean-up, and the step fails with nothing deleted', async () => {
    world.fake.clearRecord();
    const run = await world.run(
      { project: 'billing', cleanup: 'true' },
      {
        ...pullRequestJob(24, 'closed'),
        claims: {
          ref: 'refs/heads/feature-24',
          event_name: 'push',
          repository: 'acme/billing',
          repository_id: '555',
        },
      },
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/does not set cleanup_previews: true/);
    expect(world.fake.requests).toEqual([]);
  });

  test('cleanup with a production target is an input error before any exchange', async () => {
    world.fake.clearRecord();
    const run = await world.run({ cleanup: 'true', target: 'production' }, pullRequestJob(25, 'closed'));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/Input "cleanup": removes preview deployments; it needs target: preview/);
    expect(world.fake.requests).toEqual([]);
  });
});

describe('rollback.yml', () => {
  const dispatch = (environment = 'production') => ({
    workspace: site(),
    claims: {
      environment,
      event_name: 'workflow_dispatch',
      job_workflow_ref: `${WORKFLOWS}/rollback.yml@refs/heads/main`,
    },
  });

  test('previous, then an id: production returns to earlier Keyhole deployments, the audit names from→to', async () => {
    const older = await production();
    const newer = await production();
    expect(world.fake.productionOf('prj_marketing')).toBe(newer);
    const job = example('rollback.yml').jobs.rollback!;
    expect(job.environment).toBe('production');
    const keyhole = job.steps.find((s) => s.uses?.includes('keyhole'))!;

    world.fake.clearRecord();
    const run = await world.run(keyholeInputs(keyhole, { 'inputs.deployment': 'previous' }), dispatch());
    expect(run.stdout).toContain(`Production rolled back from ${newer} to ${older}`);
    expect(run.code).toBe(0);
    expect(world.fake.productionOf('prj_marketing')).toBe(older);
    expect(run.outputs['deployment-id']).toBe(older);
    expect(run.summary).toMatch(/rolled back: production serves this deployment again/);
    expect(writes().map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST /v9/projects/prj_marketing/rollback/${older}`,
    ]);
    expect(await auditLine(world.broker, (l) => l.route === 'rollback')).toMatchObject({
      decision: 'allow',
      rolled_back_from: newer,
      rolled_back_to: older,
    });
    const echo = job.steps.find((s) => s.run)!;
    expect(await runStep(echo, run.outputs, keyhole.id!)).toBe(
      `Production serves ${run.outputs['deployment-url']}\n`,
    );

    const forward = await world.run(keyholeInputs(keyhole, { 'inputs.deployment': newer }), dispatch());
    expect(forward.code).toBe(0);
    expect(world.fake.productionOf('prj_marketing')).toBe(newer);
  });

  test('from a job outside rollback_environments, or to a preview, the step fails and production stays', async () => {
    await production();
    const pr = await preview(31);
    // After the rollbacks above, Vercel keeps production where it was until a promotion.
    const live = world.fake.productionOf('prj_marketing');
    world.fake.clearRecord();
    const staging = await world.run({ target: 'production', rollback: 'previous' }, dispatch('staging'));
    expect(staging.code).toBe(1);
    expect(staging.stdout).toMatch(
      /rolled back only from jobs in the GitHub environment production; this job's environment is staging/,
    );
    const toPreview = await world.run({ target: 'production', rollback: pr }, dispatch());
    expect(toPreview.code).toBe(1);
    expect(toPreview.stdout).toMatch(/is not a production deployment/);
    expect(writes()).toEqual([]);
    expect(world.fake.productionOf('prj_marketing')).toBe(live);
  });
});
