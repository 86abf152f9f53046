/**
 * What `vercel inspect` and `vercel logs` read: a deployment's builds (`/v11/deployments/:id/builds`),
 * its request logs (`/api/logs/request-logs`, the dashboard's API) and its runtime-log stream
 * (`/v1/projects/:pid/deployments/:id/runtime-logs`, @vercel/sdk `logs.getRuntimeLogs`). Every log
 * line carries a user's data, as a real app's output may: the tests check where it must never arrive.
 */
import { error, send, type Route, type VercelRequest } from './http.js';
import { stateOf } from './lifecycle.js';
import { deploymentOf, projectOf, type FakeState } from './state.js';
import type { FakeDeployment } from './types.js';

/** The app's own output in every fake log line: what `runtime_logs: false` keeps in the broker. */
export const RUNTIME_LOG_SECRET = 'customer jane@example.com paid with card 4242';

/** How many runtime-log lines a follow stream writes before its delimiter, 20 ms apart. */
const FOLLOW_LINES = 25;

function builds(fake: FakeState, d: FakeDeployment) {
  const state = stateOf(fake, d);
  return {
    builds: [
      {
        id: `bld_${d.id.slice(4, 16)}`,
        deploymentId: d.id,
        entrypoint: '.',
        readyState: state === 'READY' ? 'READY' : state === 'ERROR' ? 'ERROR' : 'BUILDING',
        createdAt: d.createdAt,
        createdIn: 'iad1',
        use: d.prebuilt ? '@vercel/prebuilt' : '@vercel/static',
        config: {},
        output: d.files.slice(0, 20).map((f) => ({ type: 'FILE', path: f.file, digest: f.sha ?? '' })),
      },
    ],
  };
}

/** One request-log row as the CLI reads it (`rows[]`: requestId, timestamp, logs, events, statusCode…). */
function requestRow(d: FakeDeployment, i: number) {
  return {
    requestId: `req_${d.id.slice(4, 12)}_${i}`,
    timestamp: new Date(d.createdAt + 1000 + i).toISOString(),
    deploymentId: d.id,
    domain: d.url,
    requestMethod: 'GET',
    requestPath: `/api/orders/${i}`,
    statusCode: 200,
    environment: d.target === 'production' ? 'production' : 'preview',
    logs: [{ level: 'info', message: `${RUNTIME_LOG_SECRET} (${i})`, messageTruncated: false }],
    events: [{ source: 'serverless' }],
  };
}

const ownedBy = (d: FakeDeployment | undefined, team: string | undefined) =>
  d !== undefined && (!team || d.teamId === team);

function requestLogs(fake: FakeState, { res, query, team }: VercelRequest) {
  const project = projectOf(fake, query.get('projectId') ?? '', query.get('ownerId') ?? team);
  if (!project) return error(res, 404, 'not_found', 'Project not found');
  const id = query.get('deploymentId');
  const rows = [...fake.deployments.values()]
    .filter((d) => d.projectId === project.id && (!id || d.id === id))
    .flatMap((d) => [0, 1].map((i) => requestRow(d, i)));
  return send(res, 200, { rows, hasMoreRows: false });
}

/** A JSON-lines stream, a line every 20 ms, ended by `{"source":"delimiter"}`; counted while open. */
function runtimeLogs(fake: FakeState, { res, team }: VercelRequest, projectId: string, id: string) {
  const project = projectOf(fake, projectId, team);
  const d = fake.deployments.get(id);
  if (!project || !ownedBy(d, team) || d!.projectId !== project.id)
    return error(res, 404, 'not_found', 'The deployment was not found');
  res.writeHead(200, { 'content-type': 'application/stream+json; charset=utf-8' });
  fake.openLogStreams++;
  let sent = 0;
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    fake.openLogStreams--;
  };
  res.on('close', close);
  const tick = () => {
    if (!open) return;
    if (sent === FOLLOW_LINES) {
      res.end(`${JSON.stringify({ source: 'delimiter', message: '' })}\n`);
      close();
      return;
    }
    const row = requestRow(d!, sent++);
    res.write(
      `${JSON.stringify({
        rowId: row.requestId,
        timestampInMs: d!.createdAt + sent,
        domain: row.domain,
        level: 'info',
        message: row.logs[0]!.message,
        messageTruncated: false,
        requestMethod: 'GET',
        requestPath: row.requestPath,
        responseStatusCode: 200,
        source: 'serverless',
      })}\n`,
    );
    setTimeout(tick, 20);
  };
  tick();
  return undefined;
}

export const logRoutes: Route[] = [
  {
    method: 'GET',
    path: /^\/v11\/deployments\/([^/]+)\/builds$/,
    handle: (fake, { res, team }, m) => {
      const d = deploymentOf(fake, m[1]!);
      if (!ownedBy(d, team)) return error(res, 404, 'not_found', 'The deployment was not found');
      return send(res, 200, builds(fake, d!));
    },
  },
  { method: 'GET', path: /^\/api\/logs\/request-logs$/, handle: requestLogs },
  {
    method: 'GET',
    path: /^\/v1\/projects\/([^/]+)\/deployments\/([^/]+)\/runtime-logs$/,
    handle: (fake, r, m) => runtimeLogs(fake, r, m[1]!, m[2]!),
  },
];
