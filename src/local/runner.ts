/** Runs the committed bundles the way production does: the broker as a process, the action as a runner step. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BROKER_BUNDLE = path.join(REPO_ROOT, 'dist', 'broker', 'index.js');
export const ACTION_BUNDLE = path.join(REPO_ROOT, 'dist', 'action', 'index.js');
/**
 * How the broker is launched in production (systemd unit, Dockerfile): a 1 MB young generation
 * keeps streamed upload chunks from piling up between scavenges (docs/benchmarks.md).
 */
export const BROKER_NODE_FLAGS = ['--max-semi-space-size=1'];

export interface RunningBroker {
  url: string;
  process: ChildProcess;
  /** Everything the broker printed on stdout (JSON lines) and stderr. */
  stdout: () => string;
  stderr: () => string;
  auditLines: () => Record<string, unknown>[];
  stop(): Promise<number | null>;
}

export async function startBrokerProcess(options: {
  configPath: string;
  env: NodeJS.ProcessEnv;
  port?: number;
  /** Node flags before the script; the production setting unless given (`[]` for Node's defaults). */
  nodeFlags?: string[];
  /** More `serve` arguments, e.g. `['--env-file', path]`. */
  args?: string[];
}): Promise<RunningBroker> {
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeFlags ?? BROKER_NODE_FLAGS),
      BROKER_BUNDLE,
      'serve',
      '--config',
      options.configPath,
      '--port',
      String(options.port ?? 0),
      ...(options.args ?? []),
    ],
    {
      env: { PATH: process.env.PATH, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker did not start: ${stderr}`)), 15_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code}: ${stderr}`));
    });
  });
  return {
    url,
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    auditLines: () =>
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'audit'),
    stop: () =>
      new Promise((resolve) => {
        // Already gone, by an exit or by a signal (exitCode stays null then).
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

export interface ActionRun {
  code: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  exported: Record<string, string>;
  summary: string;
  /** What the step saved for its post step (GITHUB_STATE). */
  state: Record<string, string>;
  /**
   * Runs the action's `post:` step as the runner does at the end of the job, whatever the main
   * step's outcome: the same bundle, with the saved state as STATE_* variables.
   */
  post(): Promise<ActionRun>;
}

/** Parses the runner's file commands (`name<<delimiter … delimiter`, as @actions/core writes them). */
export function parseFileCommands(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const match = /^([^<=]+)<<(.+)$/.exec(lines[i]!);
    if (!match) continue;
    const [, name, delimiter] = match;
    const value: string[] = [];
    while (++i < lines.length && lines[i] !== delimiter) value.push(lines[i]!);
    values[name!] = value.join('\n');
  }
  return values;
}

export interface ActionJob {
  inputs: Record<string, string>;
  workspace: string;
  /** ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN; omit to play a job without `id-token: write`. */
  oidc?: { requestUrl: string; requestToken: string };
  env?: NodeJS.ProcessEnv;
  /** Sent to the action as SIGINT after this many ms (a cancelled job). */
  cancelAfterMs?: number;
  /** The action gets SIGINT when this settles (a cancelled job), for a cancel tied to an event rather than a delay. */
  cancelWhen?: Promise<unknown>;
}

export async function runActionBundle(job: ActionJob): Promise<ActionRun> {
  return runStep(job, {});
}

async function runStep(job: ActionJob, state: Record<string, string>): Promise<ActionRun> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyhole-runner-'));
  const files = {
    output: path.join(dir, 'output'),
    env: path.join(dir, 'env'),
    state: path.join(dir, 'state'),
    summary: path.join(dir, 'summary'),
    path: path.join(dir, 'path'),
  };
  for (const file of Object.values(files)) writeFileSync(file, '');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_WORKSPACE: job.workspace,
    GITHUB_SHA: 'a3f1c0d2e4b5a6978899aabbccddeeff00112233',
    GITHUB_REPOSITORY: 'acme/marketing',
    GITHUB_OUTPUT: files.output,
    GITHUB_ENV: files.env,
    GITHUB_STATE: files.state,
    GITHUB_PATH: files.path,
    GITHUB_STEP_SUMMARY: files.summary,
    RUNNER_TEMP: dir,
    ...(job.oidc
      ? {
          ACTIONS_ID_TOKEN_REQUEST_URL: job.oidc.requestUrl,
          ACTIONS_ID_TOKEN_REQUEST_TOKEN: job.oidc.requestToken,
        }
      : {}),
    ...job.env,
  };
  // The runner exposes each input as INPUT_<NAME>, upper-cased, spaces to underscores, hyphens kept.
  for (const [name, value] of Object.entries(job.inputs))
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  for (const [name, value] of Object.entries(state)) env[`STATE_${name}`] = value;
  const child = spawn(process.execPath, [ACTION_BUNDLE], {
    env,
    cwd: job.workspace,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  if (job.cancelAfterMs !== undefined) setTimeout(() => child.kill('SIGINT'), job.cancelAfterMs).unref();
  void job.cancelWhen?.then(() => child.exitCode === null && child.kill('SIGINT'));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    const saved = parseFileCommands(readFileSync(files.state, 'utf8'));
    return {
      code,
      stdout,
      stderr,
      outputs: parseFileCommands(readFileSync(files.output, 'utf8')),
      exported: parseFileCommands(readFileSync(files.env, 'utf8')),
      summary: readFileSync(files.summary, 'utf8'),
      state: saved,
      post: () => runStep({ ...job, cancelAfterMs: undefined, cancelWhen: undefined }, saved),
    };
  } finally {
    // The runner deletes RUNNER_TEMP after each job, as GitHub's does.
    rmSync(dir, { recursive: true, force: true });
  }
}
