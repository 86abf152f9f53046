/**
 * The Node adapter: an HTTP server that hands each request, with its raw target, to `broker.fetch`,
 * and keeps slow or numerous clients from holding what every other client needs (connections,
 * descriptors): header and body deadlines on every route, a connection cap, a per-client cap.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Broker } from '../../app.js';
import { limitsSchema, type Limits } from '../../policy/schema.js';

export interface RunningServer {
  url: string;
  server: Server;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

export interface ServerOptions {
  host: string;
  port: number;
  /** The config's limits; the schema's defaults when omitted. */
  limits?: Limits;
  /** Count clients by the last X-Forwarded-For entry (the address the reverse proxy saw). */
  trustProxy?: boolean;
}

/** How often body progress is checked: deadlines are enforced to within this. */
const CHECK_INTERVAL_MS = 1_000;
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

/** The address the nearest proxy saw: the last entry it appended to X-Forwarded-For. */
function forwardedAddress(req: IncomingMessage): string | undefined {
  const header = req.headers['x-forwarded-for'];
  const value = Array.isArray(header) ? header.join(',') : header;
  const last = value?.split(',').pop()?.trim();
  return last ? last.slice(0, 64) : undefined;
}

export async function startServer(broker: Broker, options: ServerOptions): Promise<RunningServer> {
  const limits = options.limits ?? limitsSchema.parse({});
  const graceMs = limits.body_timeout_seconds * 1000;
  const minRate = limits.min_body_bytes_per_second;
  const listener = getRequestListener((request, env) => {
    const incoming = (env as { incoming: IncomingMessage }).incoming;
    return broker.fetch(request, incoming.url, incoming);
  });

  // Body deadlines, on every route: a body must start within body_timeout_seconds and then arrive
  // at min_body_bytes_per_second on average. A client dribbling a declared body (slow loris) is
  // cut off within seconds, not at the 15-minute request timeout meant for 1 GB uploads.
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

  // Connection caps that make room rather than turn a legitimate newcomer away: at a cap, the
  // connection that has sent nothing for longest (no request yet, an unfinished request, or idle
  // keep-alive) is closed for the new one, provided it has been stalled at least STALLED_MS. A
  // connection whose request is complete and being answered, or whose body waits on the broker,
  // is never chosen; when nothing qualifies the newcomer is refused.
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
    const overClient = !options.trustProxy && (own?.size ?? 0) >= limits.max_connections_per_client;
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

  const timer = setInterval(() => {
    checkBodies();
    const now = Date.now();
    for (const t of tracked) noteProgress(t, now);
  }, CHECK_INTERVAL_MS);
  timer.unref();

  // Behind a trusted proxy every connection is the proxy's: clients are counted per request.
  const perClient = new Map<string, number>();
  const countClient = (key: string, delta: number) => {
    const count = (perClient.get(key) ?? 0) + delta;
    if (count <= 0) perClient.delete(key);
    else perClient.set(key, count);
    return count;
  };

  const server = createServer(
    {
      headersTimeout: limits.header_timeout_seconds * 1000,
      // The whole request, for the largest upload on a slow runner link.
      requestTimeout: 15 * 60_000,
      keepAliveTimeout: 5_000,
      // Node checks header and request deadlines on this period (default 30 s).
      connectionsCheckingInterval: CHECK_INTERVAL_MS,
    },
    (req: IncomingMessage, res: ServerResponse) => {
      const t = bySocket.get(req.socket);
      if (t) {
        t.req = req;
        t.lastProgress = Date.now();
        res.once('close', () => {
          if (t.req === req) t.req = undefined;
          t.lastProgress = Date.now();
        });
      }
      if (!req.complete) {
        const now = Date.now();
        watched.add({ req, start: now, startBytes: req.socket.bytesRead, lastCheck: now, excusedMs: 0 });
      }
      if (options.trustProxy) {
        const client = forwardedAddress(req) ?? req.socket.remoteAddress ?? '';
        if (countClient(client, 1) > limits.max_connections_per_client) {
          countClient(client, -1);
          res.writeHead(429, {
            'content-type': 'application/json; charset=utf-8',
            'retry-after': '2',
            connection: 'close',
          });
          res.end(
            JSON.stringify({
              error: {
                code: 'rate_limited',
                message: `this client address has ${limits.max_connections_per_client} requests in flight, the broker's limit`,
              },
            }),
          );
          return;
        }
        res.once('close', () => countClient(client, -1));
      }
      void listener(req, res);
    },
  );
  server.on('connection', (socket: Socket) => {
    if (!admit(socket, socket.remoteAddress ?? '')) {
      socket.destroy();
      return;
    }
    socket.once('close', () => {
      const t = bySocket.get(socket);
      if (t) forget(t);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    server,
    close: (closeGraceMs = 10_000) =>
      new Promise<void>((resolve) => {
        const closer = setTimeout(() => server.closeAllConnections(), closeGraceMs);
        closer.unref();
        server.close(() => {
          clearTimeout(closer);
          clearInterval(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
