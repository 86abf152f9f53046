/**
 * Connection caps of the bundled broker on real sockets (issue 13, finding 5): a global cap, a cap
 * per client address, the forwarded address counted only when the config trusts the proxy, and
 * the per-credential cap on creates in flight.
 */
import { connect, type Socket } from 'node:net';
import { defaultClaims } from '../../src/local/github-oidc.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

interface Held {
  socket: Socket;
  received: () => string;
  closed: Promise<void>;
  isClosed: () => boolean;
}

function hold(url: string, head = '', localAddress?: string): Held {
  const { hostname, port } = new URL(url);
  const socket = connect({ port: Number(port), host: hostname, ...(localAddress ? { localAddress } : {}) });
  let data = '';
  let isClosed = false;
  socket.on('data', (d: Buffer) => (data += d.toString()));
  socket.on('error', () => undefined);
  if (head) socket.write(head);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  return { socket, received: () => data, closed, isClosed: () => isClosed };
}

const connected = (h: Held) =>
  new Promise<void>((resolve) => {
    if (!h.socket.connecting) return resolve();
    h.socket.once('connect', () => resolve());
    h.socket.once('close', () => resolve());
  });

/** A request on its own connection (no keep-alive pool), from `localAddress`. */
async function healthz(url: string, localAddress?: string, headers = ''): Promise<string> {
  const h = hold(
    url,
    `GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${headers}\r\n`,
    localAddress,
  );
  await h.closed;
  return h.received().split('\r\n')[0] ?? '';
}

/** The server sees a client's close a moment after the client does: ask again until it has. */
async function servedAgain(url: string, localAddress?: string): Promise<string> {
  let status = '';
  for (let i = 0; i < 50 && status !== 'HTTP/1.1 200 OK'; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    status = await healthz(url, localAddress);
  }
  return status;
}

describe('without a trusted proxy: connections per socket address', () => {
  let world: BundledWorld;
  beforeAll(async () => {
    world = await startBundledWorld({
      extraConfig: 'limits:\n  max_connections: 4\n  max_connections_per_client: 2\n',
    });
  });
  afterAll(() => world.close());

  /** Connections that keep sending header bytes: making progress, so never closed to make room. */
  function busy(localAddress?: string) {
    const h = hold(world.broker.url, 'GET /healthz HTTP/1.1\r\nx-slow: ', localAddress);
    const timer = setInterval(() => h.socket.write('a'), 200);
    void h.closed.then(() => clearInterval(timer));
    return h;
  }
  /** Connections that send part of a request and then nothing. */
  const stalled = (localAddress?: string) =>
    hold(world.broker.url, 'GET /healthz HTTP/1.1\r\n', localAddress);
  /** Long enough for the broker to see a connection as stalled: a second without a byte, checked every second. */
  const stall = () => new Promise((r) => setTimeout(r, 3_000));
  /**
   * Opens `make()`'s connections and lets them stall, until the broker holds every one of them.
   * The broker sees the previous test's closes a moment after the client does (longer on a loaded
   * machine); a connection opened before then can be refused for a slot that is about to free.
   */
  async function holdAll(make: () => Held[]): Promise<Held[]> {
    for (let attempt = 0; ; attempt++) {
      const held = make();
      await Promise.all(held.map(connected));
      await stall();
      if (held.every((h) => !h.isClosed()) || attempt === 9) return held;
      for (const h of held) h.socket.destroy();
      await Promise.all(held.map((h) => h.closed));
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  test('a client address past max_connections_per_client whose connections all make progress is refused', async () => {
    const a = await holdAll(() => [busy(), busy()]);
    expect(a.filter((h) => h.isClosed())).toEqual([]);
    expect(await healthz(world.broker.url)).toBe('');
    expect(a.filter((h) => h.isClosed())).toEqual([]);
    for (const h of a) h.socket.destroy();
    await Promise.all(a.map((h) => h.closed));
    expect(await servedAgain(world.broker.url)).toBe('HTTP/1.1 200 OK');
  });

  test("at its cap, a client's new connection closes that client's most stalled one; other addresses, and X-Forwarded-For, change nothing", async () => {
    const a = await holdAll(() => [stalled(), stalled()]);
    expect(a.filter((h) => h.isClosed())).toEqual([]);
    // Another loopback address is another client: none of 127.0.0.1's connections is touched.
    expect(await healthz(world.broker.url, '127.0.0.2')).toBe('HTTP/1.1 200 OK');
    expect(a.filter((h) => h.isClosed())).toEqual([]);
    // The same address (whatever X-Forwarded-For says, untrusted here) is served by closing a stalled one.
    expect(await healthz(world.broker.url, '127.0.0.1', 'x-forwarded-for: 203.0.113.9\r\n')).toBe(
      'HTTP/1.1 200 OK',
    );
    await Promise.race(a.map((h) => h.closed));
    expect(a.filter((h) => h.isClosed())).toHaveLength(1);
    for (const h of a) h.socket.destroy();
    await Promise.all(a.map((h) => h.closed));
  });

  test('at max_connections, a new connection closes the most stalled one, or is refused when all make progress', async () => {
    const held = await holdAll(() => [stalled(), busy(), stalled('127.0.0.2'), busy('127.0.0.2')]);
    expect(held.filter((h) => h.isClosed())).toEqual([]);
    expect(await healthz(world.broker.url, '127.0.0.3')).toBe('HTTP/1.1 200 OK');
    await Promise.race([held[0]!.closed, held[2]!.closed]);
    expect(held.filter((h) => h.isClosed())).toHaveLength(1);
    expect(held[1]!.isClosed() || held[3]!.isClosed()).toBe(false);
    for (const h of held) h.socket.destroy();
    await Promise.all(held.map((h) => h.closed));
    const all = await holdAll(() => [busy(), busy(), busy('127.0.0.2'), busy('127.0.0.2')]);
    expect(all.filter((h) => h.isClosed())).toEqual([]);
    expect(await healthz(world.broker.url, '127.0.0.3')).toBe('');
    for (const h of all) h.socket.destroy();
    await Promise.all(all.map((h) => h.closed));
    expect(await servedAgain(world.broker.url, '127.0.0.3')).toBe('HTTP/1.1 200 OK');
  });
});

describe('behind a trusted proxy: requests per forwarded address', () => {
  let world: BundledWorld;
  beforeAll(async () => {
    world = await startBundledWorld({
      extraConfig:
        'trust_proxy: true\ntrusted_proxies: ["127.0.0.1/32"]\nlimits:\n  max_connections_per_client: 2\n  max_inflight_creates: 2\n  body_timeout_seconds: 60\n',
    });
  });
  afterAll(() => world.close());

  const stalledExchange = (client: string) =>
    hold(
      world.broker.url,
      `POST /v1/exchange HTTP/1.1\r\nhost: x\r\nx-forwarded-for: 198.51.100.1, ${client}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`,
    );

  test('a forwarded client past the cap answers 429 with Retry-After; other forwarded clients are served', async () => {
    const a = [stalledExchange('203.0.113.1'), stalledExchange('203.0.113.1')];
    await Promise.all(a.map(connected));
    await new Promise((r) => setTimeout(r, 200));
    const over = await healthz(world.broker.url, undefined, 'x-forwarded-for: 203.0.113.1\r\n');
    expect(over).toBe('HTTP/1.1 429 Too Many Requests');
    expect(await healthz(world.broker.url, undefined, 'x-forwarded-for: 203.0.113.2\r\n')).toBe(
      'HTTP/1.1 200 OK',
    );
    // The proxy's own address is not the client: many clients share its connections.
    expect(await healthz(world.broker.url, undefined, 'x-forwarded-for: 203.0.113.3\r\n')).toBe(
      'HTTP/1.1 200 OK',
    );
    for (const h of a) h.socket.destroy();
  });

  test('creates in flight past max_inflight_creates (and its queue) answer 429 with Retry-After', async () => {
    const token = await world.issuer.mint(AUDIENCE, defaultClaims({ run_id: '424242' }));
    const response = await fetch(`${world.broker.url}/v1/exchange`, {
      method: 'POST',
      body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
    });
    const { credential } = (await response.json()) as { credential: string };
    const head = (i: number) =>
      `POST /v13/deployments HTTP/1.1\r\nhost: x\r\nx-forwarded-for: 203.0.113.${10 + i}\r\nauthorization: Bearer ${credential}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{`;
    const held = Array.from({ length: 5 }, (_, i) => hold(world.broker.url, head(i)));
    const answered = () => held.filter((h) => h.received().includes('\r\n\r\n'));
    while (answered().length === 0) await new Promise((r) => setTimeout(r, 50));
    expect(answered()).toHaveLength(1);
    expect(answered()[0]!.received()).toMatch(/^HTTP\/1\.1 429/);
    expect(answered()[0]!.received()).toMatch(/retry-after: \d+/i);
    expect(answered()[0]!.received()).toMatch(/deployment creates in flight/);
    for (const h of held) h.socket.destroy();
  });
});
