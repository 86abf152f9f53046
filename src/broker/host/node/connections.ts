/**
 * What keeps slow or numerous clients from holding what every other client needs: body deadlines
 * on every route, a connection cap, a per-client cap, and (behind a trusted proxy) a per-client
 * count of requests in flight.
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP, type Socket } from 'node:net';
import { parseCidr } from '../../policy/cidr.js';
import type { Limits } from '../../policy/schema.js';

/** A connection that has sent nothing for this long may be closed to admit a new one at a cap. */
const STALLED_MS = 1_000;

interface TrackedSocket {
  socket: Socket;
  client: string;
  /** The request being received or answered on it, if any. */
  req?: IncomingMessage;
  lastBytes: number;
  lastProgress: number;
}

interface WatchedBody {
  req: IncomingMessage;
  start: number;
  startBytes: number;
  lastCheck: number;
  /** Time the broker itself was not reading (a full buffer): never counted against the client. */
  excusedMs: number;
}

/**
 * Body deadlines: a body must start within body_timeout_seconds and then arrive at
 * min_body_bytes_per_second on average. A client dribbling a declared body (slow loris) is cut off
 * within seconds, not at the 15-minute request timeout meant for 1 GB uploads.
 */
export function createBodyDeadlines(limits: Limits) {
  const graceMs = limits.body_timeout_seconds * 1000;
  const minRate = limits.min_body_bytes_per_second;
  const watched = new Set<WatchedBody>();
  const checkBodies = () => {
    const now = Date.now();
    for (const w of watched) {
      if (w.req.complete || w.req.destroyed) {
        watched.delete(w);
        continue;
      }
      // A full buffer means the broker is the one not reading (a queued upload, a slow upstream).
      if (w.req.readableLength >= w.req.readableHighWaterMark) w.excusedMs += now - w.lastCheck;
      w.lastCheck = now;
      const elapsed = now - w.start - w.excusedMs;
      const received = w.req.socket.bytesRead - w.startBytes;
      if (elapsed > graceMs && received < 1 + ((elapsed - graceMs) / 1000) * minRate) {
        watched.delete(w);
        w.req.socket.destroy();
      }
    }
  };

  return {
    watch(req: IncomingMessage) {
      const now = Date.now();
      watched.add({ req, start: now, startBytes: req.socket.bytesRead, lastCheck: now, excusedMs: 0 });
    },
    check: checkBodies,
  };
}

/**
 * Connection caps that make room rather than turn a legitimate newcomer away: at a cap, the
 * connection that has sent nothing for longest (no request yet, an unfinished request, or idle
 * keep-alive) is closed for the new one, provided it has been stalled at least STALLED_MS. A
 * connection whose request is complete and being answered, or whose body waits on the broker,
 * is never chosen; when nothing qualifies the newcomer is refused.
 */
export function createConnectionCaps(limits: Limits, isProxy: (peer: string) => boolean) {
  const tracked = new Set<TrackedSocket>();
  const bySocket = new WeakMap<Socket, TrackedSocket>();
  const byClient = new Map<string, Set<TrackedSocket>>();
  const noteProgress = (t: TrackedSocket, now: number) => {
    const waitingOnBroker = t.req !== undefined && t.req.readableLength >= t.req.readableHighWaterMark;
    if (t.socket.bytesRead > t.lastBytes || waitingOnBroker) t.lastProgress = now;
    t.lastBytes = t.socket.bytesRead;
  };
  const stalest = (pool: Iterable<TrackedSocket>, now: number): TrackedSocket | undefined => {
    let found: TrackedSocket | undefined;
    for (const t of pool) {
      if (t.req?.complete) continue;
      noteProgress(t, now);
      if (now - t.lastProgress < STALLED_MS) continue;
      if (!found || t.lastProgress < found.lastProgress) found = t;
    }
    return found;
  };
  const admit = (socket: Socket, client: string): boolean => {
    const now = Date.now();
    const own = byClient.get(client);
    // A trusted proxy carries many clients (counted per request by the address it forwards), but
    // stays capped as a peer: at most three quarters of max_connections, so other peers keep room.
    const perPeer = isProxy(client) ? proxyConnectionCap(limits) : limits.max_connections_per_client;
    const overClient = (own?.size ?? 0) >= perPeer;
    const overGlobal = tracked.size >= limits.max_connections;
    if (overClient || overGlobal) {
      // A client over its own cap makes room among its own connections only.
      const victim = stalest(overClient ? own! : tracked, now);
      if (!victim) return false;
      victim.socket.destroy();
      forget(victim);
    }
    const t: TrackedSocket = { socket, client, lastBytes: socket.bytesRead, lastProgress: now };
    tracked.add(t);
    bySocket.set(socket, t);
    byClient.set(client, (own ?? new Set()).add(t));
    return true;
  };
  const forget = (t: TrackedSocket) => {
    tracked.delete(t);
    const own = byClient.get(t.client);
    own?.delete(t);
    if (own?.size === 0) byClient.delete(t.client);
  };

  return {
    admit,
    forget,
    tracked: (socket: Socket) => bySocket.get(socket),
    tick() {
      const now = Date.now();
      for (const t of tracked) noteProgress(t, now);
    },
  };
}

/** Behind a trusted proxy every connection is the proxy's: clients are counted per request. */
export function createClientCount() {
  const perClient = new Map<string, number>();
  const countClient = (key: string, delta: number) => {
    const count = (perClient.get(key) ?? 0) + delta;
    if (count <= 0) perClient.delete(key);
    else perClient.set(key, count);
    return count;
  };
  return countClient;
}

/** The connections one trusted proxy may hold: never capped as one client, but never all of them. */
export const proxyConnectionCap = (limits: Limits) =>
  Math.max(limits.max_connections_per_client, Math.floor((limits.max_connections * 3) / 4));

/** An address in one spelling: IPv4-mapped IPv6 (`::ffff:10.0.0.1`, a dual-stack socket's view) as IPv4, IPv6 lower-case. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  return isIP(address) === 6 ? address.toLowerCase() : address;
}

/**
 * Who a request counts as behind `trusted_proxies`. X-Forwarded-For is read only on a connection
 * from a listed proxy, and its client is the right-most entry that is not itself a listed proxy:
 * each proxy appends the address it saw, so entries to the left of that one were written by the
 * client and prove nothing. Without a list nobody is trusted and the header is never read.
 */
export function createClientAddresses(trustedProxies: readonly string[] | undefined) {
  const list = new BlockList();
  for (const text of trustedProxies ?? []) {
    const cidr = parseCidr(text);
    if (cidr) list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  const isTrusted = (address: string) => {
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
  return {
    isProxy: (peer: string) => trustedProxies !== undefined && isTrusted(peer),
    /** The client a request from trusted proxy `peer` is for: the peer itself when the header names none. */
    clientOf(req: IncomingMessage, peer: string): string {
      const header = req.headers['x-forwarded-for'];
      const entries = (Array.isArray(header) ? header.join(',') : (header ?? ''))
        .split(',')
        .map((entry) => normalizeAddress(entry.trim().replace(/^\[(.*)\](?::\d+)?$/, '$1')))
        .filter((entry) => entry !== '');
      let client: string | undefined;
      for (let i = entries.length - 1; i >= 0 && client === undefined; i--)
        if (!isTrusted(entries[i]!)) client = entries[i];
      // Every entry a proxy: the request began at the left-most of them.
      return (client ?? entries[0] ?? peer).slice(0, 64);
    },
  };
}
