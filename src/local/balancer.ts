/**
 * A small loopback TCP load balancer for tests and the benchmark, behaving as a Kubernetes Service
 * with a readiness probe does: it asks each backend's `/readyz` every `probeMs`, sends a new
 * connection to the next backend that last answered 200 (round robin), and tries the next one
 * when a connection is refused (nothing was sent yet). A connection stays on its backend until
 * either side closes it, as with kube-proxy.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface Backend {
  host: string;
  port: number;
}

export interface Balancer {
  url: string;
  /** Connections handed to each backend (`host:port` → count). */
  connections: Map<string, number>;
  close(): Promise<void>;
}

export async function startBalancer(
  backends: Backend[],
  options: { probeMs?: number } = {},
): Promise<Balancer> {
  const probeMs = options.probeMs ?? 100;
  const ready = new Map<Backend, boolean>(backends.map((b) => [b, false]));
  const connections = new Map<string, number>();
  let next = 0;
  let closed = false;

  const probe = async (backend: Backend) => {
    try {
      const answer = await fetch(`http://${backend.host}:${backend.port}/readyz`, {
        signal: AbortSignal.timeout(1_000),
        headers: { connection: 'close' },
      });
      await answer.body?.cancel();
      ready.set(backend, answer.status === 200);
    } catch {
      ready.set(backend, false);
    }
  };
  const probing = setInterval(() => {
    for (const backend of backends) void probe(backend);
  }, probeMs);
  await Promise.all(backends.map(probe));

  /** Ready backends first (round robin), then the rest: a refused connection falls through. */
  const candidates = (): Backend[] => {
    const order = backends.map((_, i) => backends[(next + i) % backends.length]!);
    next = (next + 1) % backends.length;
    return [...order.filter((b) => ready.get(b)), ...order.filter((b) => !ready.get(b))];
  };

  const pipeTo = (client: Socket, queue: Backend[]) => {
    const backend = queue.shift();
    if (!backend || closed) return void client.destroy();
    const upstream = connect(backend.port, backend.host);
    let established = false;
    upstream.once('connect', () => {
      established = true;
      const key = `${backend.host}:${backend.port}`;
      connections.set(key, (connections.get(key) ?? 0) + 1);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.on('error', () => {
      if (!established) {
        ready.set(backend, false);
        pipeTo(client, queue);
      } else client.destroy();
    });
    upstream.on('close', () => established && client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
  };

  const server: Server = createServer((client) => {
    // Held until a backend is connected: pipe() resumes it then, so no byte is read and dropped.
    client.pause();
    pipeTo(client, candidates());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    connections,
    close: async () => {
      closed = true;
      clearInterval(probing);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open client connections end with their backends; none holds the close.
        setTimeout(resolve, 1_000).unref();
      });
    },
  };
}
