/**
 * `trusted_proxies` through the bundled broker on loopback (issue 24, part 5; docs/threat-model.md
 * "Wave 3: hostile inputs", 5): X-Forwarded-For counts only on connections from a listed proxy, its
 * client is the right-most entry that is not a listed proxy, any other peer is counted by its own
 * address, and `trust_proxy: true` without the list is a config error.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { toYaml } from '../../src/local/config.js';
import { BROKER_BUNDLE, REPO_ROOT } from '../../src/local/runner.js';

const PROXY = '127.0.0.2';
const STRANGER = '127.0.0.3';

let world: BundledWorld;
beforeAll(async () => {
  // The proxy is listed in its IPv4-mapped IPv6 spelling, next to an IPv6 range: both must match right.
  world = await startBundledWorld({
    extraConfig: `trust_proxy: true
trusted_proxies: ["::ffff:${PROXY}/128", "fd00::/8"]
limits:
  max_connections_per_client: 2
  body_timeout_seconds: 60
  min_body_bytes_per_second: 1
`,
  });
});
afterAll(() => world.close());

interface Held {
  socket: Socket;
  received: () => string;
  closed: Promise<void>;
}
const opened: Socket[] = [];
afterEach(() => {
  for (const socket of opened.splice(0)) socket.destroy();
});

function hold(head: string, localAddress: string): Held {
  const { hostname, port } = new URL(world.broker.url);
  const socket = connect({ port: Number(port), host: hostname, localAddress });
  opened.push(socket);
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString()));
  socket.on('error', () => undefined);
  socket.write(head);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => data, closed };
}

const connected = (h: Held) =>
  new Promise<void>((resolve) => {
    if (!h.socket.connecting) return resolve();
    h.socket.once('connect', () => resolve());
    h.socket.once('close', () => resolve());
  });

/** Connections that keep sending header bytes: making progress, so never closed to make room. */
function busy(localAddress: string, forwardedFor: string): Held {
  const h = hold(`GET /healthz HTTP/1.1\r\nx-forwarded-for: ${forwardedFor}\r\nx-slow: `, localAddress);
  const timer = setInterval(() => h.socket.write('a'), 200);
  void h.closed.then(() => clearInterval(timer));
  return h;
}

/** An exchange whose body never finishes: a request in flight for its client. */
const stalledExchange = (localAddress: string, forwardedFor: string) =>
  hold(
    `POST /v1/exchange HTTP/1.1\r\nhost: x\r\nx-forwarded-for: ${forwardedFor}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`,
    localAddress,
  );

/** A request on its own connection from `localAddress`: its status line, or '' when the connection was refused. */
async function healthz(localAddress: string, forwardedFor?: string): Promise<string> {
  const header = forwardedFor === undefined ? '' : `x-forwarded-for: ${forwardedFor}\r\n`;
  const h = hold(`GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${header}\r\n`, localAddress);
  await h.closed;
  return h.received().split('\r\n')[0] ?? '';
}

describe('a peer not in trusted_proxies', () => {
  test('is counted by its own address, whatever X-Forwarded-For says: past max_connections_per_client its new connection is refused', async () => {
    const mine = [busy(STRANGER, '203.0.113.1'), busy(STRANGER, '203.0.113.2')];
    await Promise.all(mine.map(connected));
    await new Promise((r) => setTimeout(r, 200));
    expect(await healthz(STRANGER, '203.0.113.3')).toBe('');
    // Another address is served meanwhile.
    expect(await healthz('127.0.0.4')).toBe('HTTP/1.1 200 OK');
  });
});

describe('a listed proxy', () => {
  test('is never capped as one client: it holds more connections than max_connections_per_client, for many forwarded clients', async () => {
    const carried = Array.from({ length: 5 }, (_, i) => busy(PROXY, `203.0.113.${20 + i}`));
    await Promise.all(carried.map(connected));
    await new Promise((r) => setTimeout(r, 200));
    expect(await healthz(PROXY, '203.0.113.30')).toBe('HTTP/1.1 200 OK');
    expect(carried.every((h) => !h.socket.destroyed)).toBe(true);
  });

  test('counts the right-most X-Forwarded-For entry that is not a listed proxy: entries the client wrote to its left, or a chain of proxies, change nothing', async () => {
    // Two requests in flight for 198.51.100.7, arriving through two proxies (the nearer one listed).
    const held = [stalledExchange(PROXY, '198.51.100.7'), stalledExchange(PROXY, `198.51.100.7, ${PROXY}`)];
    await Promise.all(held.map(connected));
    await new Promise((r) => setTimeout(r, 200));
    // The same client, spelled IPv4-mapped, behind a client-written entry and the listed proxy: 429.
    const over = await healthz(PROXY, `9.9.9.9, ::ffff:198.51.100.7, ${PROXY}`);
    expect(over).toBe('HTTP/1.1 429 Too Many Requests');
    expect(await healthz(PROXY, '198.51.100.8')).toBe('HTTP/1.1 200 OK');
  });
});

describe('config', () => {
  const exec = promisify(execFile);
  async function policyCheck(extra: string): Promise<{ code: number; stderr: string }> {
    const file = path.join(world.dir, `proxies-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, toYaml(world.config) + extra);
    try {
      await exec(process.execPath, [BROKER_BUNDLE, 'policy', 'check', '--config', file], { cwd: REPO_ROOT });
      return { code: 0, stderr: '' };
    } catch (error) {
      const e = error as { code: number; stderr: string };
      return { code: e.code, stderr: e.stderr.replaceAll(file, 'broker.yaml') };
    }
  }

  test('trust_proxy: true without trusted_proxies is an error saying what to add', async () => {
    const result = await policyCheck('trust_proxy: true\n');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/broker\.yaml:\d+.*trust_proxy: needs trusted_proxies/);
    expect(result.stderr).toMatch(/trusted_proxies: \["10\.0\.0\.0\/8"\]/);
  });

  test.each(['10.0.0.0/33', '10.0.0/8', 'fd00::/129', '::ffff:10.0.0.1/8x', 'proxy.internal'])(
    'a malformed CIDR (%s) is an error with its file and line',
    async (cidr) => {
      const extra = `trust_proxy: true\ntrusted_proxies:\n  - "10.1.0.0/16"\n  - "${cidr}"\n`;
      const result = await policyCheck(extra);
      expect(result.code).toBe(1);
      const text = toYaml(world.config) + extra;
      const line = text.split('\n').findIndex((l) => l.includes(`"${cidr}"`)) + 1;
      expect(result.stderr).toContain(
        `broker.yaml:${line}:5: error: trusted_proxies[1]: must be an IPv4 or IPv6 address or CIDR`,
      );
    },
  );

  test('IPv4, IPv6 and IPv4-mapped CIDRs pass', async () => {
    const result = await policyCheck(
      'trust_proxy: true\ntrusted_proxies: ["10.0.0.0/8", "192.0.2.10", "fd00::/8", "::ffff:10.0.0.0/104"]\n',
    );
    expect(result).toEqual({ code: 0, stderr: '' });
  });
});
