/**
 * `npm run bench` (add `-- --quick` for the short run): every figure of docs/benchmarks.md, each
 * comparison measured side by side in this one run, medians over repetitions. Generated trees are
 * deterministic (AES-CTR keystream with a fixed key) and live under .bench/, never committed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { jwtVerify, createRemoteJWKSet } from 'jose';
import { createDeployer, deploymentBody } from '../src/action/deploy.js';
import { collectFiles, type DeployFile } from '../src/action/files.js';
import { defaultRetryPolicy } from '../src/action/retry.js';
import { AUDIENCE, brokerYaml } from '../__tests__/helpers/config.js';
import { loadSigningKeys, mintCredential } from '../src/broker/credential.js';
import { startGitHubIssuer, type GitHubIssuer } from '../src/local/github-oidc.js';
import {
  ACTION_BUNDLE,
  REPO_ROOT,
  runActionBundle,
  startBrokerProcess,
  type RunningBroker,
} from '../src/local/runner.js';

const quick = process.argv.includes('--quick');
/** `--only <name>` runs one figure: gateway, hashing, cli, exchanges, memory, redeploy, load, startup. */
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const wanted = (name: string) => only === undefined || only === name;
const markdownOut = process.argv.includes('--markdown')
  ? process.argv[process.argv.indexOf('--markdown') + 1]
  : undefined;
const REPS = quick ? 3 : 5;
const TOKEN = 'bench_upstream_token';
const WORK = path.join(REPO_ROOT, '.bench');
const HOOKS = fileURLToPath(new URL('../scripts/ts-hooks.mjs', import.meta.url));
const MB = 1024 * 1024;
const VERCEL_CLI_VERSION = (
  JSON.parse(readFileSync(fileURLToPath(import.meta.resolve('vercel/package.json')), 'utf8')) as {
    version: string;
  }
).version;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const log = (line: string) => process.stderr.write(`${line}\n`);
const silent = {
  info: () => undefined,
  warning: () => undefined,
  startGroup: () => undefined,
  endGroup: () => undefined,
};

interface Row {
  figure: string;
  measured: string;
  target: string;
  met: boolean | undefined;
}
const rows: Row[] = [];
const record = (figure: string, measured: string, target: string, met: boolean | undefined) => {
  rows.push({ figure, measured, target, met });
  log(`  → ${figure}: ${measured} (target ${target}) ${met === undefined ? '' : met ? 'MET' : 'MISSED'}`);
};

/** Deterministic file contents: an AES-128-CTR keystream, seeded by the file's index. */
function generateTree(root: string, count: number, totalBytes: number, seed: number): void {
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

function spawnTs(script: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '--import', HOOKS, path.join(REPO_ROOT, script), ...args],
    {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
}

/** The strict fake in its own process: neither side of a ratio shares an event loop with it. */
async function startFakeProcess(env: NodeJS.ProcessEnv = {}) {
  const child = spawnTs('bench/fake-server.ts', [], { FAKE_TOKEN: TOKEN, ...env });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const { url } = JSON.parse((await lines.next()).value as string) as { url: string };
  const command = async (text: string) => {
    child.stdin!.write(`${text}\n`);
    return JSON.parse((await lines.next()).value as string) as {
      uploads: number;
      requests: number;
      deployments: number;
    };
  };
  return { url, command, stop: () => child.kill() };
}

function brokerConfig(issuer: GitHubIssuer, vercelUrl: string): string {
  const file = path.join(WORK, 'broker.yaml');
  const limits =
    'limits:\n  max_upload_bytes: 4294967296\n  max_file_bytes: 2147483648\n  max_files: 20000\n  max_deployments: 1000\n';
  writeFileSync(
    file,
    brokerYaml({ issuer: issuer.issuer, jwksUrl: issuer.jwksUrl, vercelApiUrl: vercelUrl }, limits),
  );
  return file;
}

const SIGNING = `bench:${Buffer.alloc(32, 3).toString('base64url')}`;
const startBroker = (issuer: GitHubIssuer, vercelUrl: string, nodeFlags?: string[]) =>
  startBrokerProcess({
    configPath: brokerConfig(issuer, vercelUrl),
    env: { VERCEL_TOKEN_MARKETING: TOKEN, KEYHOLE_SIGNING_KEY: SIGNING },
    ...(nodeFlags ? { nodeFlags } : {}),
  });

async function credentialFor(issuer: GitHubIssuer, broker: RunningBroker): Promise<string> {
  issuer.setJob({});
  const response = await fetch(`${broker.url}/v1/exchange`, {
    method: 'POST',
    body: JSON.stringify({
      token: await issuer.mint(AUDIENCE),
      project: 'marketing-site',
      target: 'preview',
    }),
  });
  return ((await response.json()) as { credential: string }).credential;
}

/** One deploy with the action's own client: create → missing → upload → create → wait. */
async function deployWith(apiUrl: string, token: string, files: DeployFile[]): Promise<number> {
  const started = performance.now();
  const deployer = createDeployer(
    { brokerUrl: apiUrl, credential: token, target: 'preview', prebuilt: false },
    {
      fetch,
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

async function timeCommand(
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

/** The same client deploying the same tree direct to the fake and through the broker, alternating. */
async function gatewayRatio(issuer: GitHubIssuer, files: DeployFile[]) {
  const fake = await startFakeProcess();
  const broker = await startBroker(issuer, fake.url);
  const direct: number[] = [];
  const through: number[] = [];
  try {
    for (let rep = 0; rep < REPS; rep++) {
      await fake.command('reset');
      direct.push(await deployWith(fake.url, TOKEN, files));
      await fake.command('reset');
      through.push(await deployWith(broker.url, await credentialFor(issuer, broker), files));
    }
  } finally {
    await broker.stop();
    fake.stop();
  }
  return { ratio: median(through) / median(direct), through: median(through), direct: median(direct) };
}

async function figureGatewayOverhead(issuer: GitHubIssuer) {
  const [count, bytes] = quick ? [500, 50 * MB] : [2000, 200 * MB];
  log(
    `\n[1] deploy through the broker ÷ the same client direct to the fake (${count} files, ${bytes / MB} MB, ${REPS} reps each, alternating)`,
  );
  const root = path.join(WORK, 'tree-gateway');
  generateTree(root, count, bytes, 1);
  const files = await collectFiles(root, { prebuilt: false });
  const many = await gatewayRatio(issuer, files);
  const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  record(
    `deploy via broker ÷ direct (${count} files, ${bytes / MB} MB)`,
    `${many.ratio.toFixed(2)} (${seconds(many.through)} vs ${seconds(many.direct)})`,
    '≤ 1.10',
    many.ratio <= 1.1,
  );
  // The same bytes in few files: what the broker costs per byte rather than per request.
  const bigRoot = path.join(WORK, 'tree-gateway-large');
  generateTree(bigRoot, 20, bytes, 11);
  const large = await gatewayRatio(issuer, await collectFiles(bigRoot, { prebuilt: false }));
  record(
    `… the same bytes in 20 files (per-byte cost)`,
    `${large.ratio.toFixed(2)} (${seconds(large.through)} vs ${seconds(large.direct)})`,
    'context',
    undefined,
  );
  return { root, files };
}

async function figureVersusCli(issuer: GitHubIssuer) {
  const [count, bytes] = quick ? [300, 20 * MB] : [2000, 200 * MB];
  log(
    `\n[2] the Keyhole action ÷ the official vercel deploy CLI, same tree (${count} files, ${bytes / MB} MB), same fake`,
  );
  const workspace = path.join(WORK, 'ws-cli');
  generateTree(path.join(workspace, 'site'), count, bytes, 2);
  const fake = await startFakeProcess();
  const broker = await startBroker(issuer, fake.url);
  const cli = path.join(
    path.dirname(fileURLToPath(import.meta.resolve('vercel/package.json'))),
    'dist',
    'vc.js',
  );
  const home = path.join(WORK, 'home');
  mkdirSync(home, { recursive: true });
  const action: number[] = [];
  const official: number[] = [];
  try {
    for (let rep = 0; rep < REPS; rep++) {
      await fake.command('reset');
      issuer.setJob({});
      const started = performance.now();
      const run = await runActionBundle({
        workspace,
        oidc: issuer,
        inputs: { 'broker-url': broker.url, audience: AUDIENCE, project: 'marketing-site', path: 'site' },
      });
      if (run.code !== 0) throw new Error(`action failed: ${run.stdout.slice(-800)}`);
      action.push(performance.now() - started);
      await fake.command('reset');
      official.push(
        await timeCommand(process.execPath, [cli, 'deploy', '--yes', '--api', fake.url, '--token', TOKEN], {
          cwd: path.join(workspace, 'site'),
          env: {
            HOME: home,
            VERCEL_ORG_ID: 'team_abc123',
            VERCEL_PROJECT_ID: 'prj_marketing',
            VERCEL_TELEMETRY_DISABLED: '1',
            NO_UPDATE_NOTIFIER: '1',
            CI: '1',
          },
        }),
      );
    }
  } finally {
    await broker.stop();
    fake.stop();
  }
  const ratio = median(action) / median(official);
  record(
    `action (incl. exchange, via broker) ÷ vercel deploy ${VERCEL_CLI_VERSION} (${count} files, ${bytes / MB} MB)`,
    `${ratio.toFixed(2)} (${(median(action) / 1000).toFixed(2)} s vs ${(median(official) / 1000).toFixed(2)} s)`,
    '≤ 0.5',
    ratio <= 0.5,
  );
}

/** Runs the load generator from a second process over `tokens` (each accepted once), `concurrency` at a time. */
async function loadExchanges(brokerUrl: string, tokens: string[], concurrency: number) {
  const file = path.join(WORK, 'tokens.json');
  writeFileSync(file, JSON.stringify(tokens));
  const child = spawnTs('bench/load-exchange.ts', [brokerUrl, file, String(concurrency)]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.once('exit', resolve));
  return JSON.parse(out) as { perSecond: number; p50: number; p99: number; errors: number };
}

async function figureExchanges(issuer: GitHubIssuer) {
  const count = quick ? 1500 : 5000;
  const concurrency = 8;
  log(
    `\n[3] exchanges per second, load from a second process (${count} tokens, ${concurrency} concurrent, after a warm-up) ÷ in-process jwtVerify + mint`,
  );
  const fake = await startFakeProcess();
  const broker = await startBroker(issuer, fake.url);
  issuer.setJob({});
  const mint = (n: number) => Promise.all(Array.from({ length: n }, () => issuer.mint(AUDIENCE)));
  try {
    // Steady state on both sides: the same warm-up load first (JIT, sockets, JWKS), then the run.
    await loadExchanges(broker.url, await mint(1000), concurrency);
    const load = await loadExchanges(broker.url, await mint(count), concurrency);
    const jwks = createRemoteJWKSet(new URL(issuer.jwksUrl));
    const keys = await loadSigningKeys(SIGNING, 'K');
    const bareOnce = async (token: string) => {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: issuer.issuer,
        audience: AUDIENCE,
        algorithms: ['RS256'],
      });
      await mintCredential(keys, {
        pn: 'm',
        prj: 'p',
        team: 't',
        tgt: 'preview',
        rid: String(payload.repository_id),
        repo: String(payload.repository),
        ref: String(payload.ref),
        sha: String(payload.sha),
        run: '1',
        att: '1',
        wf: String(payload.job_workflow_ref),
        iat: 0,
        exp: Date.now() + 1000,
      });
    };
    for (const token of await mint(1000)) await bareOnce(token);
    const bare = await mint(Math.min(count, 3000));
    const started = performance.now();
    for (const token of bare) await bareOnce(token);
    const barePerSecond = bare.length / ((performance.now() - started) / 1000);
    const ratio = load.perSecond / barePerSecond;
    record(
      'exchanges/s (2nd process, warm) ÷ bare verify+mint loop',
      `${ratio.toFixed(2)} (${load.perSecond.toFixed(0)}/s vs ${barePerSecond.toFixed(0)}/s, ${load.errors} errors)`,
      '≥ 0.5',
      ratio >= 0.5,
    );
    record(
      `exchange latency p50 / p99 at ${concurrency} concurrent`,
      `${load.p50.toFixed(1)} ms / ${load.p99.toFixed(1)} ms`,
      'p99 < 20 ms',
      load.p99 < 20,
    );
  } finally {
    await broker.stop();
    fake.stop();
  }
}

function peakRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

async function uploadPeak(issuer: GitHubIssuer, size: number, nodeFlags?: string[]) {
  const fake = await startFakeProcess();
  const broker = await startBroker(issuer, fake.url, nodeFlags);
  try {
    const credential = await credentialFor(issuer, broker);
    const idle = peakRssBytes(broker.process.pid!);
    const key = Buffer.alloc(16, 9);
    const stream = (onChunk?: (b: Buffer) => void) => {
      const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
      let sent = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= size) return controller.close();
          const part = cipher.update(Buffer.alloc(Math.min(MB, size - sent)));
          sent += part.length;
          onChunk?.(part);
          controller.enqueue(part);
        },
      });
    };
    const hash = createHash('sha1');
    const reader = stream((b) => hash.update(b)).getReader();
    while (!(await reader.read()).done);
    const started = performance.now();
    const response = await fetch(`${broker.url}/v2/files`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${credential}`,
        'x-vercel-digest': hash.digest('hex'),
        'content-length': String(size),
        'content-type': 'application/octet-stream',
      },
      body: stream(),
      duplex: 'half',
    } as RequestInit);
    if (response.status !== 200)
      throw new Error(`upload answered ${response.status}: ${await response.text()}`);
    return {
      idle,
      peak: peakRssBytes(broker.process.pid!),
      perSecond: size / MB / ((performance.now() - started) / 1000),
    };
  } finally {
    await broker.stop();
    fake.stop();
  }
}

async function figureUploadMemory(issuer: GitHubIssuer) {
  const size = quick ? 256 * MB : 1024 * MB;
  log(
    `\n[4] broker peak RSS while streaming one ${size / MB} MB upload (as launched in production, and with Node's defaults)`,
  );
  const tuned = await uploadPeak(issuer, size);
  const defaults = await uploadPeak(issuer, size, []);
  const mb = (n: number) => `${(n / MB).toFixed(0)} MB`;
  record(
    `broker peak RSS streaming ${size / MB} MB (node --max-semi-space-size=1)`,
    `${mb(tuned.peak)} (idle ${mb(tuned.idle)}; ${tuned.perSecond.toFixed(0)} MB/s)`,
    '< 150 MB',
    tuned.peak < 150 * MB,
  );
  record(
    `… the same with Node's default heap flags`,
    `${mb(defaults.peak)} (idle ${mb(defaults.idle)}; ${defaults.perSecond.toFixed(0)} MB/s)`,
    'flat',
    undefined,
  );
}

async function figureHashing(root: string, files: DeployFile[]) {
  const bytes = files.reduce((n, f) => n + f.size, 0);
  log(
    `\n[5] the action's hashing ÷ sha1sum over the same tree (${files.length} files, ${(bytes / MB).toFixed(0)} MB, warm cache)`,
  );
  const sha1sum = () =>
    timeCommand('sh', ['-c', `find "${root}" -type f -print0 | xargs -0 sha1sum > /dev/null`]);
  await sha1sum();
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const started = performance.now();
    await collectFiles(root, { prebuilt: false });
    ours.push(performance.now() - started);
    theirs.push(await sha1sum());
  }
  const ratio = median(theirs) / median(ours);
  record(
    'hashing throughput ÷ sha1sum',
    `${ratio.toFixed(2)} (${(bytes / MB / (median(ours) / 1000)).toFixed(0)} MB/s vs ${(bytes / MB / (median(theirs) / 1000)).toFixed(0)} MB/s)`,
    '≥ 0.8',
    ratio >= 0.8,
  );
}

async function figureRedeploy(issuer: GitHubIssuer) {
  const count = 5000;
  log(`\n[6] redeploy after changing 1 of ${count} files`);
  const workspace = path.join(WORK, 'ws-redeploy');
  generateTree(path.join(workspace, 'site'), count, 5 * MB, 6);
  const fake = await startFakeProcess();
  const broker = await startBroker(issuer, fake.url);
  try {
    const run = () =>
      runActionBundle({
        workspace,
        oidc: issuer,
        inputs: { 'broker-url': broker.url, audience: AUDIENCE, project: 'marketing-site', path: 'site' },
      });
    issuer.setJob({});
    if ((await run()).code !== 0) throw new Error('first deploy failed');
    await fake.command('stats');
    const before = (await fake.command('stats')).uploads;
    writeFileSync(path.join(workspace, 'site', 'd0', 'e0', 'f0.bin'), `changed ${Date.now()}`);
    const second = await run();
    const uploaded = (await fake.command('stats')).uploads - before;
    record(
      `files uploaded by a redeploy after changing 1 of ${count}`,
      `${uploaded} (${second.code === 0 ? 'READY' : 'failed'})`,
      'exactly 1',
      uploaded === 1 && second.code === 0,
    );
  } finally {
    await broker.stop();
    fake.stop();
  }
}

async function figureLoad(issuer: GitHubIssuer) {
  const [exchanges, deploys] = [500, 20];
  log(`\n[8] load: ${exchanges} concurrent exchanges and ${deploys} concurrent deploys against one broker`);
  const root = path.join(WORK, 'tree-load');
  generateTree(root, 50, 2 * MB, 8);
  const files = await collectFiles(root, { prebuilt: false });
  const fake = await startFakeProcess();
  const broker = await startBroker(issuer, fake.url);
  try {
    issuer.setJob({});
    const tokens = await Promise.all(Array.from({ length: exchanges }, () => issuer.mint(AUDIENCE)));
    const credentials = await Promise.all(
      Array.from({ length: deploys }, () => credentialFor(issuer, broker)),
    );
    const file = path.join(WORK, 'load-tokens.json');
    writeFileSync(file, JSON.stringify(tokens));
    const started = performance.now();
    const child = spawnTs('bench/load-exchange.ts', [broker.url, file, String(exchanges)]);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const loadDone = new Promise((resolve) => child.once('exit', resolve));
    const results = await Promise.allSettled(
      credentials.map((credential) => deployWith(broker.url, credential, files)),
    );
    await loadDone;
    const seconds = (performance.now() - started) / 1000;
    const load = JSON.parse(out) as { errors: number; p50: number; p99: number };
    const failedDeploys = results.filter((r) => r.status === 'rejected').length;
    const peak = peakRssBytes(broker.process.pid!);
    record(
      `${exchanges} concurrent exchanges + ${deploys} concurrent deploys (50 files each)`,
      `${load.errors + failedDeploys} errors; exchange p50 ${load.p50.toFixed(0)} ms, p99 ${load.p99.toFixed(0)} ms; ${seconds.toFixed(1)} s; broker peak RSS ${(peak / MB).toFixed(0)} MB`,
      '0 errors, bounded RSS',
      load.errors + failedDeploys === 0 && peak < 300 * MB,
    );
  } finally {
    await broker.stop();
    fake.stop();
  }
}

async function figureStartup() {
  log('\n[7] action bundle size; time from process start to its first HTTP request');
  const size = statSync(ACTION_BUNDLE).size;
  const dir = path.dirname(ACTION_BUNDLE);
  const all = readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
  record(
    'dist/action/index.js size (all chunks)',
    `${(size / MB).toFixed(2)} MB (${(all / MB).toFixed(2)} MB)`,
    '≤ 3 MB',
    all <= 3 * MB,
  );
  const times: number[] = [];
  for (let rep = 0; rep < REPS + 2; rep++) {
    let started = 0;
    const first = new Promise<number>((resolve) => {
      const server = createServer((_req, res) => {
        resolve(performance.now() - started);
        res.writeHead(500).end();
        server.close();
      }).listen(0, '127.0.0.1');
      server.once('listening', () => {
        const { port } = server.address() as AddressInfo;
        started = performance.now();
        const child = spawn(process.execPath, [ACTION_BUNDLE], {
          env: {
            PATH: process.env.PATH,
            GITHUB_WORKSPACE: WORK,
            'INPUT_BROKER-URL': 'http://127.0.0.1:9',
            INPUT_PROJECT: 'marketing-site',
            ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${port}/token?api-version=2.0`,
            ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'x',
          },
          stdio: 'ignore',
        });
        setTimeout(() => child.kill(), 5000).unref();
      });
    });
    times.push(await first);
  }
  record(
    'process start → first HTTP request',
    `${median(times.slice(2)).toFixed(0)} ms (median of ${REPS})`,
    '< 300 ms',
    median(times.slice(2)) < 300,
  );
}

async function main() {
  mkdirSync(WORK, { recursive: true });
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  log(
    `Keyhole benchmarks${quick ? ' (quick)' : ''}: ${cpus().length} × ${cpu}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}, ${REPS} repetitions, medians`,
  );
  const issuer = await startGitHubIssuer();
  try {
    if (wanted('gateway') || wanted('hashing')) {
      const { root, files } = await figureGatewayOverhead(issuer);
      await figureHashing(root, files);
    }
    if (wanted('cli')) await figureVersusCli(issuer);
    if (wanted('exchanges')) await figureExchanges(issuer);
    if (wanted('memory')) await figureUploadMemory(issuer);
    if (wanted('redeploy')) await figureRedeploy(issuer);
    if (wanted('load')) await figureLoad(issuer);
    if (wanted('startup')) await figureStartup();
  } finally {
    await issuer.close();
  }
  const table = [
    `Machine: ${cpus().length} × ${cpu}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Node ${process.version}; ${quick ? 'quick run' : 'full run'}, ${REPS} repetitions, medians.`,
    '',
    '| Figure | Measured | Target | |',
    '|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.figure} | ${r.measured} | ${r.target} | ${r.met === undefined ? '' : r.met ? 'met' : '**missed**'} |`,
    ),
  ].join('\n');
  process.stdout.write(`\n${table}\n`);
  if (markdownOut) writeFileSync(markdownOut, `${table}\n`);
  process.stdout.write(`\n${rows.filter((r) => r.met).length} of ${rows.length} targets met\n`);
}

await main();
