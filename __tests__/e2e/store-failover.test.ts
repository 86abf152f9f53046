/**
 * Store failovers under load, through the bundles: two broker processes on `redis+sentinel://` (a
 * master, its replica, a sentinel) or on `redis+cluster://` (three masters with a replica each),
 * real redis-server processes, deploys and exchanges running, and a master killed. During the gap the brokers fail closed (503 with
 * Retry-After), a token already used is never accepted and a job never gets a second credential;
 * after the sentinel promotes the replica they work again without a restart, and the action's
 * retries carry every deploy to READY with exactly one deployment.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { startRedisCluster } from '../../src/local/redis.js';
import { startRedisSentinel } from '../../src/local/redis-sentinel.js';
import { startBrokerProcess, type ActionRun, type RunningBroker } from '../../src/local/runner.js';
import { SIGNING_KEY, UPSTREAM_TOKEN } from '../../src/local/world.js';

const PASSWORD = 'failover-pw-73c1';
let world: BundledWorld;
const brokers: RunningBroker[] = [];

/** A store that can lose its master: its URL, the kill (once replicas are in sync), the promotion. */
interface FailoverStore {
  url: string;
  /** What the broker process needs besides the URL (the CA of a TLS store). */
  env: NodeJS.ProcessEnv;
  killMaster(): Promise<void>;
  promoted(): boolean;
  close(): Promise<void>;
}
const cli = (port: number, ...args: string[]) =>
  execFileSync('redis-cli', [
    '-p',
    String(port),
    '-a',
    PASSWORD,
    '--no-auth-warning',
    ...tlsCli,
    ...args,
  ]).toString();
/** redis-cli's TLS flags while a TLS store is under test. */
let tlsCli: string[] = [];

async function sentinelStore(): Promise<FailoverStore> {
  const group = await startRedisSentinel({ password: PASSWORD });
  tlsCli = [];
  return {
    url: group.url(),
    env: {},
    killMaster: async () => {
      await group.replicaInSync();
      cli(group.master.port, 'wait', '1', '2000');
      await group.master.stop();
    },
    promoted: () => group.currentMasterPort() === group.replica.port,
    close: () => group.close(),
  };
}

async function clusterStore(tls = false): Promise<FailoverStore> {
  const cluster = await startRedisCluster({ password: PASSWORD, replicas: 1, tls });
  tlsCli = cluster.caFile ? ['--tls', '--cacert', cluster.caFile] : [];
  // A replica and its master, from the replica's own ROLE: `slave`, the master's host, its port, ….
  const replica = cluster.nodes.find((n) => cli(n.port, 'role').startsWith('slave'))!;
  const masterPort = cli(replica.port, 'role').split('\n')[2]?.trim();
  const master = cluster.nodes.find((n) => String(n.port) === masterPort)!;
  return {
    url: cluster.url(),
    env: cluster.caFile ? { NODE_EXTRA_CA_CERTS: cluster.caFile } : {},
    killMaster: async () => {
      for (let i = 0; !cli(replica.port, 'info', 'replication').includes('master_link_status:up'); i++) {
        if (i > 400) throw new Error('the replica never synced');
        await new Promise((r) => setTimeout(r, 50));
      }
      cli(master.port, 'wait', '1', '2000');
      await master.stop();
    },
    promoted: () => cli(replica.port, 'role').startsWith('master'),
    close: () => cluster.close(),
  };
}

beforeAll(async () => {
  world = await startBundledWorld({ fake: { buildMs: 1_500 } });
  writeFileSync(
    path.join(world.dir, 'failover.yaml'),
    // The probes exchange several tokens a second for one owner: above the default owner rate.
    `${world.configYaml({ limits: { exchange_rate_per_owner: 100_000 } })}replay_store_env: KEYHOLE_REDIS_URL\n`,
  );
});
afterAll(async () => {
  for (const broker of brokers) await broker.stop();
  await world.close();
});

async function startInstance(url: string, extraEnv: NodeJS.ProcessEnv): Promise<RunningBroker> {
  const broker = await startBrokerProcess({
    configPath: path.join(world.dir, 'failover.yaml'),
    env: {
      VERCEL_TOKEN_MARKETING: UPSTREAM_TOKEN,
      VERCEL_TOKEN_BILLING: UPSTREAM_TOKEN,
      KEYHOLE_SIGNING_KEY: SIGNING_KEY,
      KEYHOLE_REDIS_URL: url,
      ...extraEnv,
    },
  });
  brokers.push(broker);
  for (let i = 0; i < 200; i++) {
    if ((await fetch(`${broker.url}/readyz`)).status === 200) return broker;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the broker never became ready: ${broker.stdout()}`);
}

interface Answer {
  at: number;
  status: number;
  code: string | undefined;
  retryAfter: string | null;
}

async function exchangeAt(broker: RunningBroker, token: string): Promise<Answer> {
  const response = await fetch(`${broker.url}/v1/exchange`, {
    method: 'POST',
    body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
  });
  const code =
    response.status === 200
      ? undefined
      : ((await response.json().catch(() => ({}))) as { error?: { code?: string } }).error?.code;
  if (response.status === 200) await response.body?.cancel();
  return { at: Date.now(), status: response.status, code, retryAfter: response.headers.get('retry-after') };
}

function workspaceFor(index: number): string {
  const workspace = mkdtempSync(path.join(world.dir, `failover-${index}-`));
  for (let i = 0; i < 50; i++) {
    const dir = path.join(workspace, 'site', `d${i % 5}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `page-${i}.html`), `<p>failover deploy ${index}, page ${i}</p>`);
  }
  return workspace;
}

test.each([
  ['Sentinel', sentinelStore],
  ['Cluster', () => clusterStore()],
  ['TLS Cluster', () => clusterStore(true)],
])(
  'a %s failover while deploys and exchanges run: 503 during the gap, nothing replayed, every deploy READY once',
  async (kind, startStore) => {
    const store = await startStore();
    try {
      await failover(kind, store);
    } finally {
      for (const broker of brokers.splice(0)) await broker.stop();
      await store.close();
    }
  },
  300_000,
);

async function failover(kind: string, store: FailoverStore): Promise<void> {
  const [a, b] = [await startInstance(store.url, store.env), await startInstance(store.url, store.env)];
  world.issuer.setJob({ ref: 'refs/heads/before' });
  const used = await world.issuer.mint(AUDIENCE);
  expect((await exchangeAt(a!, used)).status).toBe(200);
  expect((await exchangeAt(b!, used)).status).toBe(401);

  const deploymentsBefore = world.fake.deployments.size;
  const runs: Promise<ActionRun>[] = [0, 1, 2, 3].map((i) =>
    world.run({ path: 'site', 'broker-url': (i % 2 ? b! : a!).url }, { workspace: workspaceFor(i) }),
  );
  // Every deploy has its credential (the issuer's job claims are shared state: the probes below
  // change them) and is uploading.
  const allowed = () =>
    brokers.reduce(
      (n, broker) =>
        n + broker.auditLines().filter((l) => l.event === 'exchange' && l.decision === 'allow').length,
      0,
    );
  while (allowed() < 5 || world.fake.requests.filter((r) => r.path.startsWith('/v2/files')).length < 4)
    await new Promise((r) => setTimeout(r, 50));

  const killedAt = Date.now();
  await store.killMaster();
  // Probes during and after the gap: fresh tokens, the used token again, one job asking twice.
  const fresh: Answer[] = [];
  const replays: Answer[] = [];
  const sameJob: Answer[] = [];
  for (let i = 0; i < 300; i++) {
    world.issuer.setJob({ ref: `refs/heads/probe-${i}` });
    fresh.push(await exchangeAt(i % 2 ? b! : a!, await world.issuer.mint(AUDIENCE)));
    replays.push(await exchangeAt(i % 2 ? a! : b!, used));
    world.issuer.setJob({ ref: 'refs/heads/one-job', check_run_id: '424242' });
    sameJob.push(await exchangeAt(i % 2 ? a! : b!, await world.issuer.mint(AUDIENCE)));
    // Over once the replica is master and the last probes (spread over every slot) all pass.
    if (store.promoted() && fresh.length > 5 && fresh.slice(-5).every((f) => f.status === 200)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const results = await Promise.all(runs);

  const gap = fresh.filter((f) => f.status === 503);
  const recovered = fresh.find((f) => f.status === 200 && f.at > (gap.at(-1)?.at ?? killedAt));
  const lost = results.filter((run) => run.outputs['ready-state'] !== 'READY').length;
  const retries = results.reduce((n, run) => n + (run.stdout.match(/retry \d+ in/g) ?? []).length, 0);
  process.stdout.write(
    `\n[${kind} failover] exchanges answered 503 from the kill until ${recovered ? ((recovered.at - killedAt) / 1000).toFixed(1) : '-'} s after it ` +
      `(${gap.length} probes 503, every one with Retry-After); deploys lost: ${lost} of 4; retries the action absorbed: ${retries}\n`,
  );
  // Fails closed during the gap: 503 with Retry-After, nothing else.
  expect(gap.length).toBeGreaterThan(0);
  expect(
    fresh
      .filter((f) => !(f.status === 200 || (f.status === 503 && f.retryAfter !== null)))
      .map((f) => `${f.status} ${f.code}`),
  ).toEqual([]);
  // Recovers without a restart: the same two processes answer 200 again.
  expect(recovered).toBeDefined();
  expect(brokers.every((broker) => broker.process.exitCode === null)).toBe(true);
  expect(store.promoted()).toBe(true);
  // Never a replayed token accepted, never a second credential for one job.
  expect(replays.filter((r) => r.status === 200)).toEqual([]);
  expect(sameJob.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1);
  // The action's retries carried every deploy through, each exactly once.
  expect(
    results.map((run) => ({
      code: run.code,
      state: run.outputs['ready-state'],
      error: /::error::(.*)/.exec(run.stdout)?.[1],
    })),
  ).toEqual([0, 1, 2, 3].map(() => ({ code: 0, state: 'READY', error: undefined })));
  expect(world.fake.deployments.size - deploymentsBefore).toBe(4);
}
