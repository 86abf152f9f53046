/** The Node adapter: an HTTP server that hands each request, with its raw target, to `broker.fetch`. */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Broker } from './app.js';

export interface RunningServer {
  url: string;
  server: Server;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

export async function startServer(
  broker: Broker,
  options: { host: string; port: number },
): Promise<RunningServer> {
  const listener = getRequestListener((request, env) => {
    const incoming = (env as { incoming: IncomingMessage }).incoming;
    return broker.fetch(request, incoming.url, incoming);
  });
  const server = createServer(listener);
  // Slow clients may not hold a socket forever: headers within 15 s, a whole request within 15 min
  // (a 1 GB upload on a slow runner link), idle keep-alive sockets closed after 5 s.
  server.headersTimeout = 15_000;
  server.requestTimeout = 15 * 60_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    server,
    close: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
