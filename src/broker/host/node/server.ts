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
import type { Broker, PlainAnswer } from '../../app.js';
import { limitsSchema, type Limits } from '../../policy/schema.js';
import { ownedBodyPieces } from './fetch.js';
import type { PushBody } from '../../gateway/streams.js';

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

/**
 * A request's header values as `Headers.get` reads them, from the raw header lines: names compared
 * lower-case, a repeated header's values joined with ", " (Node's `req.headers` would keep only the
 * first of some, such as Content-Length, where the web Request joins them and the check refuses).
 */
export function rawHeaderReader(raw: readonly string[]) {
  const values = new Map<string, string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!.trim();
    const before = values.get(name);
    values.set(name, before === undefined ? value : `${before}, ${value}`);
  }
  return {
    get: (name: string) => values.get(name.toLowerCase()) ?? null,
    has: (name: string) => values.has(name.toLowerCase()),
  };
}

/** The per-file upload route, which the broker serves without web Request/Response objects. */
const isUploadTarget = (target: string) => target === '/v2/files' || target.startsWith('/v2/files?');

/** A piece in a buffer of its own, which nothing else holds (Node's HTTP parser copies each piece). */
const isOwn = (piece: Buffer) => piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength;

/**
 * The request's body, each piece marked as the server's own so the upstream call may free it once
 * written (fetch.ts `ownedBodyPieces`).
 */
async function* ownedPieces(req: IncomingMessage): AsyncGenerator<Uint8Array> {
  for await (const piece of req as AsyncIterable<Buffer>) {
    if (isOwn(piece)) ownedBodyPieces.add(piece);
    yield piece;
  }
}

/**
 * The request's body for the gateway: iterable, and pushed by Node's own stream events
 * (streams.ts `PushBody`), its pieces marked as the server's own either way.
 */
function requestBody(req: IncomingMessage): PushBody {
  return {
    [Symbol.asyncIterator]: () => ownedPieces(req),
    pushPieces(into) {
      const onData = (piece: Buffer) => {
        if (isOwn(piece)) ownedBodyPieces.add(piece);
        into.piece(piece);
      };
      const onEnd = () => {
        stop();
        into.end();
      };
      const onError = (error: Error) => {
        stop();
        into.fail(error);
      };
      // Closed before its end: the client went away (Node may not emit an error for it).
      const onClose = () => {
        if (!req.readableEnded) onError(new Error('the client closed the request before its end'));
      };
      const stop = () => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
        req.off('close', onClose);
      };
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('close', onClose);
      return { pause: () => req.pause(), resume: () => req.resume() };
    },
  };
}

/**
 * The lean per-file upload (the official CLI sends one request per file): the broker's `upload`
 * runs every check of its web path; this writes the plain answer it returns.
 */
function serveUpload(upload: NonNullable<Broker['upload']>, req: IncomingMessage, res: ServerResponse) {
  const write = (answer: PlainAnswer) => {
    const body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body;
    res.writeHead(answer.status, { ...answer.headers, 'content-length': String(body.byteLength) });
    res.end(body);
  };
  const body = requestBody(req);
  upload({ method: 'POST', rawTarget: req.url!, headers: rawHeaderReader(req.rawHeaders), body }).then(
    write,
    () => {
      // The broker's upload answers its own refusals; reaching here is a bug: a bare 500.
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
      res.end('{"error":{"code":"internal_error","message":"The broker failed."}}');
    },
  );
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
      if (broker.upload && req.method === 'POST' && isUploadTarget(req.url ?? '')) {
        serveUpload(broker.upload.bind(broker), req, res);
        return;
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
