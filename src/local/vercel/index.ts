/**
 * A strict fake of the Vercel REST API deploy surface (research/vercel.md §7), with fault injection
 * and a request record: every request is recorded, may meet a fault, must carry a known token, and
 * is answered by the route of its method and path (one module per concern) or with Vercel's 404.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { aliasRoutes } from './aliases.js';
import { domainRoutes } from './domains.js';
import { deploymentRoutes } from './deployments.js';
import { playFault } from './faults.js';
import { fileRoutes } from './files.js';
import { drain, error, teamOf, type Route } from './http.js';
import { productionOf } from './lifecycle.js';
import { projectRoutes } from './projects.js';
import { logRoutes } from './logs.js';
import { promoteRoutes } from './promote.js';
import { createState, type FakeState } from './state.js';
import type { RecordedRequest, VercelFake, VercelFakeOptions } from './types.js';

export { DEFAULT_ENV, mulberry32 } from './state.js';
export type * from './types.js';

const ROUTES: Route[] = [
  ...fileRoutes,
  ...deploymentRoutes,
  ...aliasRoutes,
  ...domainRoutes,
  ...projectRoutes,
  ...promoteRoutes,
  ...logRoutes,
];

async function handle(fake: FakeState, req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? '/', 'http://fake');
  const path = url.pathname;
  const query = url.searchParams;
  const record: RecordedRequest = {
    method: req.method ?? 'GET',
    path,
    query: Object.fromEntries(query),
    headers: { ...req.headers },
    bytes: 0,
  };
  fake.requests.push(record);
  if (await playFault(fake, req, res, path)) return;

  const auth = req.headers.authorization ?? '';
  const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  if (!fake.tokens.has(token)) {
    await drain(req);
    return error(res, 403, 'forbidden', 'Not authorized');
  }
  const request = { req, res, path, query, team: teamOf(fake, query), record };
  for (const route of ROUTES) {
    const match = route.method === req.method ? route.path.exec(path) : null;
    if (match) return route.handle(fake, request, match);
  }
  await drain(req);
  return error(res, 404, 'not_found', `The requested path ${path} was not found`);
}

export async function startVercelFake(options: VercelFakeOptions = {}): Promise<VercelFake> {
  const fake = createState(options);
  const server: Server = createServer((req, res) => {
    handle(fake, req, res).catch((e: unknown) => {
      if (!res.headersSent) error(res, 500, 'internal_server_error', String(e));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: fake.requests,
    deployments: fake.deployments,
    blobs: fake.blobs,
    aliases: fake.aliases,
    env: fake.env,
    productionOf: (projectId) => productionOf(fake, projectId),
    tokens: fake.tokens,
    openLogStreams: () => fake.openLogStreams,
    inject: (fault) => fake.faults.push({ times: 1, ...fault }),
    setFaultRate: (rate) => {
      fake.faultRate = rate;
    },
    setFaultMix: (kinds, retryAfterSeconds = 1) => {
      fake.faultMix = kinds ? { kinds, retryAfterSeconds } : undefined;
    },
    clearRecord: () => {
      fake.requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
