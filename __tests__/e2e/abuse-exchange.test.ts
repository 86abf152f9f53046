/**
 * Availability of the exchange and the HTTP server, attacked through the bundled broker on real
 * sockets (issue 13, docs/threat-model.md "Availability"): outsiders cannot fill the replay store,
 * owners are rate-limited, slow clients are cut off, connections are capped per client.
 */
import { connect, type Socket } from 'node:net';
import { defaultClaims } from '../../src/local/github-oidc.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';

let world: BundledWorld;
beforeAll(async () => {
  // A tiny store and rate so the attacks fit in a test; deadlines keep their defaults.
  world = await startBundledWorld({
    extraConfig: 'limits:\n  replay_store_max_entries: 20\n  exchange_rate_per_owner: 30\n',
  });
});
afterAll(() => world.close());

let run = 0;
/** A genuine token: every job gets its own run id so per-job limits never interfere. */
const token = (claims: Record<string, string> = {}) =>
  world.issuer.mint(AUDIENCE, defaultClaims({ run_id: String(8_000_000 + run++), ...claims }));
const outsider = (owner = '31337') =>
  token({ repository: 'mallory/site', repository_id: `9${owner}`, repository_owner_id: owner });

async function exchange(t: string) {
  const response = await fetch(`${world.broker.url}/v1/exchange`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: t, project: 'marketing-site', target: 'preview' }),
  });
  const body = (await response.json()) as { error?: { code: string; message: string } };
  return { status: response.status, code: body.error?.code, retryAfter: response.headers.get('retry-after') };
}

/** A raw connection: what was received, and a promise that settles when the server closes it. */
function rawSocket(url: string): { socket: Socket; received: () => string; closed: Promise<void> } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => data, closed };
}

describe('finding 1: the replay store cannot be filled from outside', () => {
  test('outsider tokens take no store entry: after more of them than the store holds, an insider still exchanges', async () => {
    // 40 owners the policy never names, each with a genuine token (the store holds 20).
    for (let i = 0; i < 40; i++) {
      const answer = await exchange(await outsider(String(40_000 + i)));
      expect(answer).toMatchObject({ status: 403, code: 'policy_denied' });
    }
    expect((await exchange(await token())).status).toBe(200);
  });

  test('a full store refuses new insiders (503) and never forgets a live reservation: the replay is still 401', async () => {
    const first = await token();
    expect((await exchange(first)).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await exchange(await token())).status);
    expect(statuses).toContain(503);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(await exchange(first)).toMatchObject({ status: 401, code: 'token_replayed' });
  });

  test('one repository owner gets exchange_rate_per_owner exchanges a minute, then 429 with Retry-After', async () => {
    // 70 > two windows of 30: at least one answer is 429 even if the burst straddles a minute.
    const answers = [];
    for (let i = 0; i < 70; i++) answers.push(await exchange(await outsider('31337')));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(10);
    for (const a of limited) {
      expect(a.code).toBe('rate_limited');
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(a.retryAfter)).toBeLessThanOrEqual(60);
    }
    expect(answers.filter((a) => a.status !== 429).every((a) => a.status === 403)).toBe(true);
  });
});

describe('finding 5: slow clients are cut off within seconds on every route (default deadlines)', () => {
  test('a POST /v1/exchange declaring 16,000 bytes and dribbling one byte at a time is closed by the broker', async () => {
    const slow = rawSocket(world.broker.url);
    slow.socket.write(
      'POST /v1/exchange HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 16000\r\n\r\n{',
    );
    let sent = 1;
    const dribble = setInterval(() => {
      if (!slow.socket.destroyed) slow.socket.write(' ');
      sent += 1;
    }, 500);
    await slow.closed;
    clearInterval(dribble);
    // Without a body deadline the socket stays open until the 15-minute request timeout (and the
    // test's own timeout fails it); with it, far fewer than the declared bytes were ever sent.
    expect(sent).toBeLessThan(16_000);
    expect(slow.received()).not.toMatch(/^HTTP\/1\.1 200/);
  }, 40_000);

  test('headers dribbled one byte at a time are closed by the broker', async () => {
    const slow = rawSocket(world.broker.url);
    const head = 'GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ' + 'a'.repeat(10_000);
    let at = 0;
    const dribble = setInterval(() => {
      if (!slow.socket.destroyed) slow.socket.write(head[at++ % head.length]!);
    }, 500);
    await slow.closed;
    clearInterval(dribble);
    expect(at).toBeLessThan(head.length);
  }, 40_000);
});
