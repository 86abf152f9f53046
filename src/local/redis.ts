/**
 * A real redis-server for tests and the benchmark: plain or TLS (a CA and a server certificate for
 * 127.0.0.1 and localhost, made here with openssl), with `requirepass` and/or a least-privilege ACL user.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * How to obtain redis-server. Jest's global setup (__tests__/helpers/global-setup.ts) spells the same
 * command: Jest loads that file natively, so it cannot import this one.
 */
export const REDIS_INSTALL_COMMAND =
  'sudo apt-get update && sudo apt-get install -y redis-server (Debian, Ubuntu; elsewhere install Redis so that redis-server is on PATH)';

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The commands the broker sends, and nothing else (docs/operations.md shows the same ACL line). */
export const BROKER_ACL =
  '~keyhole:* resetchannels -@all +get +set +del +exists +eval +evalsha +ping +hello +select';

export interface RedisOptions {
  tls?: boolean;
  /** `requirepass`: the default user's password. */
  password?: string;
  /** An ACL user with only the broker's commands on `keyhole:*` keys. */
  user?: { name: string; password: string };
  /** Cluster mode (nodes.conf in the temp dir); startRedisCluster() joins three such nodes. */
  cluster?: boolean;
  /** More redis-server arguments (a replica's `--replicaof`). */
  args?: string[];
  /** With `tls`: certificates shared by several nodes (a TLS cluster's nodes trust one CA). */
  certs?: { ca: string; cert: string; key: string };
}

export interface TestRedis {
  port: number;
  /** The URL a broker uses: `rediss://` with TLS, user and password when set, and `db`. */
  url(db?: number): string;
  /** PEM file of the CA that signed the server certificate (for NODE_EXTRA_CA_CERTS). */
  caFile?: string;
  stop(): Promise<void>;
  /** Starts redis-server again on the same port (a Redis that went away and came back). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=keyhole-test-ca',
  );
  openssl('req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.crt'),
    '-days',
    '2',
    '-extfile',
    file('san.ext'),
  );
  return { ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') };
}

/** Starts redis-server without persistence; global-setup.ts has installed it, or says here why not. */
export async function startRedis(options: RedisOptions = {}): Promise<TestRedis> {
  if (process.env.KEYHOLE_REDIS_MISSING) throw new Error(process.env.KEYHOLE_REDIS_MISSING);
  const dir = mkdtempSync(path.join(tmpdir(), 'keyhole-redis-'));
  const port = await freePort();
  const certs = options.tls ? (options.certs ?? makeCertificates(dir)) : undefined;
  const args = [
    ...(certs
      ? [
          '--port',
          '0',
          '--tls-port',
          String(port),
          '--tls-cert-file',
          certs.cert,
          '--tls-key-file',
          certs.key,
        ]
      : ['--port', String(port)]),
    ...(certs ? ['--tls-ca-cert-file', certs.ca, '--tls-auth-clients', 'no'] : []),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    ...(options.password ? ['--requirepass', options.password] : []),
    // The nodes of a password-protected cluster authenticate to each other with the same password.
    ...(options.cluster
      ? ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf')]
      : []),
    ...(options.cluster && options.password ? ['--masterauth', options.password] : []),
    ...(options.user
      ? [
          '--user',
          options.user.name,
          'on',
          `>${options.user.password}`,
          ...BROKER_ACL.split(' '),
          // A cluster client discovers the slot map with CLUSTER SLOTS (README, Redis).
          ...(options.cluster ? ['+cluster|slots'] : []),
        ]
      : []),
    ...(options.args ?? []),
  ];
  let child: ChildProcess | undefined;
  const start = async () => {
    const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let output = '';
      started.once('error', (error) =>
        reject(new Error(`redis-server could not start (${error.message}). Run: ${REDIS_INSTALL_COMMAND}`)),
      );
      started.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
      started.stdout!.on('data', (d: Buffer) => {
        output += d.toString();
        if (output.includes('Ready to accept connections')) resolve();
      });
    });
    child = started;
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill();
    await exited;
  };
  await start();
  return {
    port,
    url: (db = 0) => {
      const auth = options.user
        ? `${options.user.name}:${encodeURIComponent(options.user.password)}@`
        : options.password
          ? `:${encodeURIComponent(options.password)}@`
          : '';
      return `${certs ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}/${db}`;
    },
    ...(certs ? { caFile: certs.ca } : {}),
    stop,
    restart: start,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestRedisCluster {
  ports: number[];
  nodes: TestRedis[];
  /** With `tls`: the CA every node's certificate is signed by (for NODE_EXTRA_CA_CERTS). */
  caFile?: string;
  /** `redis+cluster://` seed URL listing every node, with the password when set. */
  url(): string;
  close(): Promise<void>;
}

/**
 * A real Redis Cluster of three masters on loopback (no replicas), each node a startRedis()
 * process with cluster mode on; `redis-cli --cluster create` splits the 16384 slots among them.
 */
export async function startRedisCluster(
  options: {
    password?: string;
    user?: RedisOptions['user'];
    /** Replicas per master (a failover needs one); each is promoted within ~1 s of its master's death. */
    replicas?: number;
    /** TLS for clients, the cluster bus and replication (`rediss+cluster://`), one CA for every node. */
    tls?: boolean;
  } = {},
): Promise<TestRedisCluster> {
  const nodes: TestRedis[] = [];
  const replicas = options.replicas ?? 0;
  const certDir = options.tls ? mkdtempSync(path.join(tmpdir(), 'keyhole-redis-ca-')) : undefined;
  const certs = certDir ? makeCertificates(certDir) : undefined;
  const tlsArgs = certs ? ['--tls-cluster', 'yes', '--tls-replication', 'yes'] : [];
  const tlsCli = certs ? ['--tls', '--cacert', certs.ca] : [];
  // With replicas: a node is failed after 1 s, any replica may be promoted, and the other shards
  // keep answering meanwhile (the failover scenario of the store tests).
  const failover = replicas
    ? [
        '--cluster-node-timeout',
        '1000',
        '--cluster-replica-validity-factor',
        '0',
        '--cluster-require-full-coverage',
        'no',
      ]
    : [];
  try {
    for (let i = 0; i < 3 * (1 + replicas); i++)
      nodes.push(
        await startRedis({
          ...(options.password ? { password: options.password } : {}),
          ...(options.user ? { user: options.user } : {}),
          cluster: true,
          ...(certs ? { tls: true, certs } : {}),
          args: [...failover, ...tlsArgs],
        }),
      );
    const auth = [...(options.password ? ['-a', options.password, '--no-auth-warning'] : []), ...tlsCli];
    execFileSync(
      'redis-cli',
      [
        ...auth,
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { stdio: 'pipe' },
    );
    // Slots are assigned at once, but the nodes agree on the state through gossip: wait for it.
    for (const node of nodes) {
      for (let i = 0; ; i++) {
        const info = execFileSync('redis-cli', [
          ...auth,
          '-p',
          String(node.port),
          'cluster',
          'info',
        ]).toString();
        if (info.includes('cluster_state:ok')) break;
        if (i > 200) throw new Error(`the test cluster did not reach cluster_state:ok:\n${info}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    // All slots served is not all replicas attached: each replica learns its master by itself.
    const role = (node: TestRedis) =>
      execFileSync('redis-cli', [...auth, '-p', String(node.port), 'role'])
        .toString()
        .split('\n')[0];
    const wanted = (nodes.length / (replicas + 1)) * replicas;
    for (let i = 0; nodes.filter((n) => role(n) === 'slave').length < wanted; i++) {
      if (i > 200) throw new Error(`the test cluster's replicas did not attach to their masters`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (error) {
    for (const node of nodes) await node.close();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
    throw error;
  }
  return {
    ports: nodes.map((n) => n.port),
    nodes,
    ...(certs ? { caFile: certs.ca } : {}),
    url: () =>
      `${certs ? 'rediss' : 'redis'}+cluster://${
        options.user
          ? `${options.user.name}:${encodeURIComponent(options.user.password)}@`
          : options.password
            ? `:${encodeURIComponent(options.password)}@`
            : ''
      }${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    close: async () => {
      for (const node of nodes) await node.close();
      if (certDir) rmSync(certDir, { recursive: true, force: true });
    },
  };
}

/** Retries until the (re)connecting client answers: connection is asynchronous by design. */
export async function eventually<T>(call: () => Promise<T>, attempts = 100): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await call();
    } catch (error) {
      if (i >= attempts) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
