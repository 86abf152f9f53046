/**
 * `npm run try`: the user's config and workflow inputs on loopback. Starts the local issuer, the
 * strict Vercel fake and a local GitHub seeded from the config, the bundled broker with the config
 * rewritten to point at them, runs the bundled action as the job would, and reports what a real run
 * would do: the decision and its rule, the deployment, its alias and the job summary.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseDocument } from 'yaml';
import { AUDIENCE } from '../config.js';
import { createStyle, formatAuditLine, summaryAsText } from '../demo-output.js';
import { startGitHubApi, type GitHubApiFake } from '../github-api/index.js';
import { startGitHubIssuer, type GitHubIssuer } from '../github-oidc.js';
import {
  BROKER_BUNDLE,
  runActionBundle,
  startBrokerProcess,
  type ActionRun,
  type RunningBroker,
} from '../runner.js';
import { startVercelFake, type VercelFake } from '../vercel/index.js';
import { UsageError, type TryArgs } from './args.js';
import { CHECK_RUN_ID, jobClaims, type PlayedJob } from './claims.js';
import {
  FAKE_VERCEL_TOKEN,
  freePort,
  githubSeed,
  projectsOf,
  rewriteConfig,
  vercelSeed,
  type ConfigProject,
} from './setup.js';
import { readWorkflowJob, type WorkflowJob } from './workflow.js';

export const EXIT_READY = 0;
/** The job's own token on the local GitHub (what `github-token` defaults to in a real job). */
const JOB_TOKEN = 'ghs_local_job_token';
export const EXIT_FAILED = 1;
export const EXIT_REFUSED = 3;

const exec = promisify(execFile);

interface Output {
  log(line: string): void;
  isTTY?: boolean;
  env: NodeJS.ProcessEnv;
}

/** `node dist/broker/index.js <args>` with the run's environment: its exit code and output. */
async function brokerCli(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BROKER_BUNDLE, ...args], {
      env: { PATH: process.env.PATH, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return {
      code: typeof e.code === 'number' ? e.code : 1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? String(error),
    };
  }
}

/** What the local world holds while it runs; everything is stopped and removed by `close`. */
interface Running {
  dir: string;
  issuer?: GitHubIssuer;
  github?: GitHubApiFake;
  vercel?: VercelFake;
  broker?: RunningBroker;
}

async function close(world: Running) {
  await world.broker?.stop();
  await world.vercel?.close();
  await world.github?.close();
  await world.issuer?.close();
  rmSync(world.dir, { recursive: true, force: true });
}

/** The action's log as a person reads it: workflow commands that carry values (masks, state) left out. */
const stepLog = (run: ActionRun) =>
  run.stdout
    .split('\n')
    .filter((line) => line.trim() && !/^::(add-mask|save-state|set-output|debug)/.test(line))
    .map((line) => line.replace(/%0A/g, '\n      '));

/** What the command line and the files say the run is: the config, the project, target, inputs and job. */
interface Plan {
  text: string;
  projects: ConfigProject[];
  workflow?: WorkflowJob;
  inputs: Record<string, string>;
  projectName?: string;
  target: string;
  job?: PlayedJob;
}

function plan(args: TryArgs): Plan {
  let text: string;
  try {
    text = readFileSync(args.config, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--config ${args.config}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
  const projects = projectsOf(parseDocument(text));
  const names = projects.map((p) => p.name).join(', ') || 'none';
  const workflow = args.workflow ? readWorkflowJob(args.workflow, args.job) : undefined;
  const inputs = { ...workflow?.inputs, ...args.inputs };
  const projectName =
    args.project ?? inputs.project ?? (projects.length === 1 ? projects[0]!.name : undefined);
  if (!args.doctor && !projectName)
    throw new UsageError(`--project is required (projects in ${args.config}: ${names})`);
  const project = projects.find((p) => p.name === projectName);
  if (projectName && !project)
    throw new UsageError(`project ${projectName} is not in ${args.config} (projects: ${names})`);
  const target = args.target ?? inputs.target ?? 'preview';
  return {
    text,
    projects,
    ...(workflow ? { workflow } : {}),
    inputs,
    ...(projectName ? { projectName } : {}),
    target,
    ...(project ? { job: jobClaims(args, project, target, workflow) } : {}),
  };
}

/** Starts the issuer, a local GitHub and the Vercel fake seeded from the config; writes the rewritten config. */
async function startWorld(world: Running, args: TryArgs, p: Plan) {
  world.issuer = await startGitHubIssuer();
  const repository = String(p.job?.claims.repository ?? '');
  world.github = await startGitHubApi(repository ? { repository, token: JOB_TOKEN } : {});
  for (const repo of githubSeed(p.projects, CHECK_RUN_ID)) world.github.setRepository(repo);
  if (p.job && !world.github.repository(repository)) {
    const [owner, name] = repository.split('/') as [string, string];
    world.github.setRepository({
      owner,
      name,
      id: Number(p.job.claims.repository_id) || 1,
      ownerId: Number(p.job.claims.repository_owner_id) || 1,
      checkRuns: { [CHECK_RUN_ID]: 'in_progress' },
    });
  }
  world.vercel = await startVercelFake({ tokens: [FAKE_VERCEL_TOKEN], ...vercelSeed(p.projects) });
  const port = await freePort();
  const rewritten = rewriteConfig(p.text, {
    issuer: world.issuer.issuer,
    jwksUrl: world.issuer.jwksUrl,
    vercelApiUrl: world.vercel.url,
    brokerUrl: `http://127.0.0.1:${port}`,
    github: {
      url: world.github.url,
      appId: world.github.appId,
      privateKey: world.github.privateKey,
      always: args.doctor,
    },
  });
  const configPath = path.join(world.dir, 'broker.yaml');
  writeFileSync(configPath, rewritten.yaml);
  return { port, rewritten, configPath };
}

const indent = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => `   ${line}`)
    .join('\n');

/** The job as played, then `policy explain` for its claims: the decision and the rule, before the step runs. */
async function explain(
  world: Running,
  p: Plan,
  configPath: string,
  env: Record<string, string>,
  out: Output,
) {
  const { bold, dim } = createStyle({ isTTY: out.isTTY }, out.env);
  const job = p.job!;
  const claimsPath = path.join(world.dir, 'claims.json');
  writeFileSync(claimsPath, JSON.stringify(job.claims, null, 2));
  out.log(bold(`\nThe job: ${p.projectName} → ${p.target}`));
  for (const key of ['repository', 'ref', 'event_name', 'environment', 'job_workflow_ref'])
    if (job.claims[key] !== undefined) out.log(`   ${key.padEnd(17)}${String(job.claims[key])}`);
  for (const note of job.notes) out.log(dim(`   defaulted: ${note}`));
  for (const key of p.workflow?.expressions ?? [])
    out.log(
      dim(
        `   input ${key}: holds a \${{ }} expression only a runner evaluates; left out (--input ${key}=… to set it)`,
      ),
    );
  if (p.workflow && p.workflow.keyholeSteps > 1)
    out.log(dim(`   the job has ${p.workflow.keyholeSteps} Keyhole steps: the first one runs`));
  out.log(bold('\nThe decision (keyhole-broker policy explain)'));
  const args = ['--claims', claimsPath, '--project', p.projectName!, '--target', p.target];
  const result = await brokerCli(['policy', 'explain', '--config', configPath, ...args], env);
  out.log(indent(result.stdout + result.stderr));
}

/** Runs the action bundle as the job's step, then its post step, as a runner does. */
async function runStep(world: Running, args: TryArgs, p: Plan) {
  const claims = p.job!.claims;
  const pr = Number(/^refs\/pull\/(\d+)\//.exec(String(claims.ref))?.[1] ?? 0);
  const eventPath = path.join(world.dir, 'event.json');
  const event = pr ? { pull_request: { number: pr, head: { ref: 'feature', sha: claims.sha } } } : {};
  writeFileSync(eventPath, JSON.stringify(event));
  world.issuer!.setJob(claims);
  const run = await runActionBundle({
    workspace: path.resolve(args.workspace),
    oidc: world.issuer!,
    inputs: {
      'github-token': JOB_TOKEN,
      ...p.inputs,
      project: p.projectName!,
      target: p.target,
      'broker-url': world.broker!.url,
      audience: AUDIENCE,
    },
    env: {
      GITHUB_REPOSITORY: String(claims.repository),
      GITHUB_REF: String(claims.ref),
      GITHUB_EVENT_NAME: String(claims.event_name),
      GITHUB_API_URL: world.github!.url,
      GITHUB_EVENT_PATH: eventPath,
    },
  });
  return { run, post: await run.post() };
}

/** The step's log, the broker's audit lines, the deployment, the comment and the summary; returns the exit status. */
async function report(
  world: Running,
  p: Plan,
  step: { run: ActionRun; post: ActionRun },
  secrets: string[],
  out: Output,
): Promise<number> {
  const { bold, green, red, dim } = createStyle({ isTTY: out.isTTY }, out.env);
  const { run, post } = step;
  out.log(bold('\nThe step (bundled action)'));
  for (const line of stepLog(run)) out.log(dim(`   │ ${line}`));
  for (const line of stepLog(post)) out.log(dim(`   │ post: ${line}`));
  out.log(bold('\nWhat the broker audited'));
  await new Promise((resolve) => setTimeout(resolve, 100)); // the last audit lines arrive through a pipe
  const audit = world.broker!.auditLines();
  for (const line of audit) out.log(formatAuditLine(line));
  const state = run.outputs['ready-state'] ?? '';
  out.log(bold('\nThe deployment'));
  for (const name of ['deployment-id', 'deployment-url', 'alias-url', 'inspector-url', 'ready-state'])
    if (run.outputs[name]) out.log(`   ${name.padEnd(15)}${run.outputs[name]}`);
  for (const comment of [...world.github!.comments.values()].flat()) {
    out.log(bold('\nThe pull request comment'));
    for (const line of comment.body.split('\n')) if (line.trim()) out.log(`   │ ${line}`);
  }
  if (run.summary.trim()) {
    out.log(bold('\nThe job summary'));
    out.log(summaryAsText(run.summary, '   │ '));
  }
  const leaked = secrets.some((secret) => (run.stdout + run.stderr + run.summary).includes(secret));
  if (leaked) out.log(red('   ✗ a broker secret appeared in the step output'));
  const refused = audit.some(
    (l) => l.event === 'exchange' && l.decision !== 'allow' && /policy_denied/.test(JSON.stringify(l)),
  );
  if (refused) {
    out.log(red(bold('\nRefused by the policy (exit 3): see the decision above.')));
    return EXIT_REFUSED;
  }
  // deploy: false only exports the credential: success without a deployment.
  const done = state === 'READY' || (p.inputs.deploy === 'false' && !run.outputs['deployment-id']);
  if (run.code === 0 && done && !leaked) {
    const what = state === 'READY' ? 'READY' : 'Done (deploy: false)';
    out.log(green(bold(`\n${what}: this config allows this job.`)));
    return EXIT_READY;
  }
  out.log(
    red(bold(`\nThe step failed (exit ${run.code}${state ? `, ${state}` : ''}): see the step log above.`)),
  );
  return EXIT_FAILED;
}

export async function runTry(args: TryArgs, out: Output): Promise<number> {
  const { bold, dim } = createStyle({ isTTY: out.isTTY }, out.env);
  const p = plan(args);
  const world: Running = { dir: mkdtempSync(path.join(tmpdir(), 'keyhole-try-')) };
  const stop = () => void close(world).then(() => process.exit(130));
  process.once('SIGINT', stop);
  try {
    const { port, rewritten, configPath } = await startWorld(world, args, p);
    out.log(bold(`Keyhole dry run: ${args.config}`));
    // The user's own file, so warnings name its lines; the environment has every *_env filled.
    const check = await brokerCli(['policy', 'check', '--config', args.config], rewritten.env);
    out.log(indent(check.stdout + check.stderr));
    if (check.code !== 0) return EXIT_FAILED;
    for (const note of rewritten.notes) out.log(dim(`   local world: ${note}`));
    if (args.doctor) {
      out.log(bold('\nkeyhole-broker doctor (against a local GitHub seeded from the config)'));
      const doctor = await brokerCli(['doctor', '--config', configPath], rewritten.env);
      out.log(indent(doctor.stdout + doctor.stderr));
      return doctor.code === 0 ? EXIT_READY : EXIT_FAILED;
    }
    await explain(world, p, configPath, rewritten.env, out);
    world.broker = await startBrokerProcess({ configPath, env: rewritten.env, port });
    const step = await runStep(world, args, p);
    return await report(world, p, step, [FAKE_VERCEL_TOKEN, ...Object.values(rewritten.env)], out);
  } finally {
    process.off('SIGINT', stop);
    await close(world);
  }
}
