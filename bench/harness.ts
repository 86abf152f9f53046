/**
 * What every benchmark figure shares: the run's settings (from the command line), the results
 * table, deterministic trees, and the processes a figure measures (the strict fake, the bundled
 * broker, the action's own deploy client).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createDeployer, deploymentBody } from '../src/action/deploy.js';
import { collectFiles, type DeployFile } from '../src/action/files.js';
import { defaultRetryPolicy } from '../src/action/retry.js';
import { batchCapabilityOf } from '../src/action/batch.js';
import type { BatchCapability } from '../src/shared/wire.js';
import { AUDIENCE, brokerConfig, toYaml, withOverrides, type ConfigOverrides } from '../src/local/config.js';
import type { GitHubIssuer } from '../src/local/github-oidc.js';
import { BROKER_NODE_FLAGS, REPO_ROOT, startBrokerProcess, type RunningBroker } from '../src/local/runner.js';

/** One figure of docs/benchmarks.md: `name` is what `--only` selects. */
export interface Figure {
  name: string;
  run(context: BenchContext): Promise<void>;
}

export interface BenchContext {
  /** The local GitHub OIDC issuer every figure mints its tokens from. */
  issuer: GitHubIssuer;
  /** Adds a row to the table; `met` is undefined for rows that only give context. */
  record(figure: string, measured: string, target: string, met: boolean | undefined): void;
}

export const quick = process.argv.includes('--quick');
export const REPS = quick ? 3 : 5;
export const TOKEN = 'bench_upstream_token';
export const WORK = path.join(REPO_ROOT, '.bench');
export const MB = 1024 * 1024;
export const SIGNING = `bench:${Buffer.alloc(32, 3).toString('base64url')}`;
const HOOKS = fileURLToPath(new URL('../scripts/ts-hooks.mjs', import.meta.url));

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const log = (line: string) => process.stderr.write(`${line}\n`);
const silent = {
  info: () => undefined,
  warning: () => undefined,
  relay: () => undefined,
  startGroup: () => undefined,
  endGroup: () => undefined,
};

/** Deterministic file contents: an AES-128-CTR keystream, seeded by the file's index. */
export function generateTree(root: string, count: number, totalBytes: number, seed: number): void {
  rmSync(root, { recursive: true, force: true });
  const key = Buffer.alloc(16, seed);
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const average = totalBytes / count;
  for (let i = 0; i < count; i++) {
    const size = Math.max(1, Math.floor(average * (0.25 + 1.5 * random())));
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(i, 12);
    const data = createCipheriv('aes-128-ctr', key, iv).update(Buffer.alloc(size));
    const dir = path.join(root, `d${i % 40}`, `e${i % 7}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `f${i}.bin`), data);
  }
}

const trees = new Map<string, Promise<{ root: string; files: DeployFile[] }>>();
/** A generated tree under .bench/ and its hashed file list, built once per run for every figure that reads it. */
export function sharedTree(name: string, count: number, totalBytes: number, seed: number) {
  let tree = trees.get(name);
  if (!tree) {
    const root = path.join(WORK, name);
    generateTree(root, count, totalBytes, seed);
    tree = collectFiles(root, { prebuilt: false }).then((files) => ({ root, files }));
    trees.set(name, tree);
  }
  return tree;
}

export function spawnTs(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  nodeFlags: string[] = [],
): ChildProcess {
  return spawn(
    process.execPath,
    [
      ...nodeFlags,
      '--disable-warning=ExperimentalWarning',
      '--import',
      HOOKS,
      path.join(REPO_ROOT, script),
      ...args,
    ],
    {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
}

/** A bench server's first line on stdout, `{"url"}`, and the lines that follow it. */
async function announced(child: ChildProcess) {
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const { url } = JSON.parse((await lines.next()).value as string) as { url: string };
  return { url, lines };
}

/** The strict fake in its own process: neither side of a ratio shares an event loop with it. */
export async function startFakeProcess(env: NodeJS.ProcessEnv = {}) {
  const child = spawnTs('bench/fake-server.ts', [], { FAKE_TOKEN: TOKEN, ...env });
  const { url, lines } = await announced(child);
  const command = async (text: string) => {
    child.stdin!.write(`${text}\n`);
    return JSON.parse((await lines.next()).value as string) as {
      uploads: number;
      requests: number;
      deployments: number;
    };
  };
  return { url, command, pid: child.pid!, stop: () => child.kill() };
}

/**
 * node:http's own floor (bench/floor-server.ts) in its own process, with the broker's Node flags:
 * `['proxy', upstream, token]` or `['answer', bytes]`.
 */
export async function startFloorProcess(args: string[]) {
  const child = spawnTs('bench/floor-server.ts', args, {}, BROKER_NODE_FLAGS);
  const { url } = await announced(child);
  return { url, pid: child.pid!, stop: () => child.kill() };
}

/** Writes the benchmark's broker config (the local world's, with the bench's limits and `overrides`). */
export function writeBrokerConfig(
  issuer: GitHubIssuer,
  vercelUrl: string,
  overrides: ConfigOverrides = {},
): string {
  const file = path.join(WORK, 'broker.yaml');
  const config = brokerConfig(
    { issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, vercelApiUrl: vercelUrl },
    {
      limits: {
        max_upload_bytes: 4294967296,
        max_file_bytes: 2147483648,
        max_files: 20000,
        max_deployments: 1000,
        // The exchange figures send thousands of tokens of one owner from one address, on purpose.
        exchange_rate_per_owner: 1000000,
        max_connections: 2000,
        max_connections_per_client: 2000,
      },
    },
  );
  writeFileSync(file, toYaml(withOverrides(config, overrides)));
  return file;
}

/** The bundled broker in its own process, pointed at `vercelUrl`. */
export const startBroker = (
  issuer: GitHubIssuer,
  vercelUrl: string,
  nodeFlags?: string[],
  /** A variant of the config (`config` is merged in), extra environment, a fixed port. */
  variant: { config?: ConfigOverrides; env?: NodeJS.ProcessEnv; port?: number } = {},
) =>
  startBrokerProcess({
    configPath: writeBrokerConfig(issuer, vercelUrl, variant.config),
    env: { VERCEL_TOKEN_MARKETING: TOKEN, KEYHOLE_SIGNING_KEY: SIGNING, ...variant.env },
    ...(nodeFlags ? { nodeFlags } : {}),
    ...(variant.port !== undefined ? { port: variant.port } : {}),
  });

export async function credentialFor(issuer: GitHubIssuer, broker: RunningBroker): Promise<string> {
  return (await exchangeFor(issuer, broker)).credential;
}

/** A credential and the batch capability the broker announced with it (as the action reads it). */
export async function exchangeFor(
  issuer: GitHubIssuer,
  broker: RunningBroker,
): Promise<{ credential: string; batch?: BatchCapability }> {
  issuer.setJob({});
  const response = await fetch(`${broker.url}/v1/exchange`, {
    method: 'POST',
    body: JSON.stringify({
      token: await issuer.mint(AUDIENCE),
      project: 'marketing-site',
      target: 'preview',
    }),
  });
  const answer = (await response.json()) as { credential: string; upload_batch?: unknown };
  const batch = batchCapabilityOf(answer);
  return { credential: answer.credential, ...(batch ? { batch } : {}) };
}

/** CPU time (user + system) a process has used so far, in microseconds (Linux /proc, 10 ms ticks). */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5); the slice starts at field 3.
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** One deploy with the action's own client: create → missing → upload → create → wait. */
export async function deployWith(
  apiUrl: string,
  token: string,
  files: DeployFile[],
  fetchImpl: typeof fetch = fetch,
  /** The broker's batched upload; without it, one /v2/files request per file (the official CLI's path). */
  batch?: BatchCapability,
): Promise<number> {
  const started = performance.now();
  const deployer = createDeployer(
    { brokerUrl: apiUrl, credential: token, target: 'preview', prebuilt: false, ...(batch ? { batch } : {}) },
    {
      fetch: fetchImpl,
      retry: defaultRetryPolicy(),
      log: silent,
      signal: new AbortController().signal,
      now: Date.now,
      pollIntervalMs: 250,
    },
  );
  const body = deploymentBody(files, { id: 'prj_marketing', name: 'marketing-site' }, 'preview');
  let attempt = await deployer.create(body);
  if (attempt.missing) {
    await deployer.uploadMissing(files, attempt.missing);
    attempt = await deployer.create(body);
  }
  const done = await deployer.wait(attempt.deployment!, 120_000);
  if (done.readyState !== 'READY') throw new Error(`deploy ended ${done.readyState}`);
  return performance.now() - started;
}

export async function timeCommand(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<number> {
  const started = performance.now();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.slice(-500)}`);
  return performance.now() - started;
}

export function peakRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** Runs the load generator from a second process over `tokens` (each accepted once), `concurrency` at a time. */
export async function loadExchanges(
  brokerUrl: string,
  tokens: string[],
  concurrency: number,
  name = 'tokens',
) {
  const file = path.join(WORK, `${name}.json`);
  writeFileSync(file, JSON.stringify(tokens));
  const child = spawnTs('bench/load-exchange.ts', [brokerUrl, file, String(concurrency)]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.once('exit', resolve));
  return JSON.parse(out) as { perSecond: number; p50: number; p99: number; errors: number };
}
