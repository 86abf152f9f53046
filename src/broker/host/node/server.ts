/**
 * The Node adapter: an HTTP server that hands each request, with its raw target, to `broker.fetch`,
 * and keeps slow or numerous clients from holding what every other client needs (connections,
 * descriptors): header and body deadlines on every route, a connection cap, a per-client cap.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  createBodyDeadlines,
  createClientAddresses,
  createClientCount,
  createConnectionCaps,
  normalizeAddress,
} from './connections.js';
import { getRequestListener } from '@hono/node-server';
import type { Broker } from '../../app.js';
import { limitsSchema, type Limits } from '../../policy/schema.js';

export interface RunningServer {
  url: string;
  server: Server;
  /** Requests received and not yet answered in full. */
  inFlight(): number;
  /**
   * Stops accepting, answers in-flight and further requests on open connections with
   * `Connection: close`, lets them finish for up to `graceMs`, then closes what is left. Resolves
   * with the number of requests that were cut at the deadline (0: all finished).
   */
  close(graceMs?: number): Promise<number>;
}

export interface ServerOptions {
  host: string;
  port: number;
  /** The config's limits; the schema's defaults when omitted. */
  limits?: Limits;
  /** Count clients by X-Forwarded-For on connections from `trustedProxies` (connections.ts, createClientAddresses). */
  trustProxy?: boolean;
  /** The reverse proxies' CIDRs; with trustProxy but no list, no peer is trusted. */
  trustedProxies?: readonly string[];
}

/** How often body progress is checked: deadlines are enforced to within this. */
const CHECK_INTERVAL_MS = 1_000;

export async function startServer(broker: Broker, options: ServerOptions): Promise<RunningServer> {
  const limits = options.limits ?? limitsSchema.parse({});
  const listener = getRequestListener((request, env) => {
    const incoming = (env as { incoming: IncomingMessage }).incoming;
    return broker.fetch(request, incoming.url, incoming);
  });

  const bodies = createBodyDeadlines(limits);
  const addresses = createClientAddresses(options.trustProxy ? (options.trustedProxies ?? []) : undefined);
  const peerOf = (socket: Socket) => normalizeAddress(socket.remoteAddress ?? '');
  const caps = createConnectionCaps(limits, addresses.isProxy);
  const timer = setInterval(() => {
    bodies.check();
    caps.tick();
  }, CHECK_INTERVAL_MS);
  timer.unref();

  const countClient = createClientCount();
  const active = new Set<ServerResponse>();
  let closing = false;

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
      active.add(res);
      res.once('close', () => active.delete(res));
      // Draining: answer what arrives on an open connection, then close it, so the client's next
      // request opens a new connection, which the load balancer sends to another instance.
      if (closing) res.shouldKeepAlive = false;
      const t = caps.tracked(req.socket);
      if (t) {
        t.req = req;
        t.lastProgress = Date.now();
        res.once('close', () => {
          if (t.req === req) t.req = undefined;
          t.lastProgress = Date.now();
        });
      }
      if (!req.complete) bodies.watch(req);
      const peer = peerOf(req.socket);
      if (addresses.isProxy(peer)) {
        const client = addresses.clientOf(req, peer);
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
    if (!caps.admit(socket, peerOf(socket))) {
      socket.destroy();
      return;
    }
    socket.once('close', () => {
      const t = caps.tracked(socket);
      if (t) caps.forget(t);
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
    inFlight: () => active.size,
    close: (closeGraceMs = 10_000) =>
      new Promise<number>((resolve) => {
        closing = true;
        for (const res of active) if (!res.headersSent) res.shouldKeepAlive = false;
        let cut = 0;
        // A keep-alive connection turns idle when its last response ends: close it then.
        const idle = setInterval(() => server.closeIdleConnections(), 100);
        const closer = setTimeout(() => {
          cut = active.size;
          server.closeAllConnections();
        }, closeGraceMs);
        server.close(() => {
          clearTimeout(closer);
          clearInterval(idle);
          clearInterval(timer);
          resolve(cut);
        });
        server.closeIdleConnections();
      }),
  };
}
