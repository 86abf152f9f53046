/** The gateway's allow-list: exactly the Vercel calls a deploy of one project needs, matched on method + raw path. */
import { forbidden } from '../errors.js';

export type RouteName =
  | 'upload-file'
  | 'upload-batch'
  | 'create-deployment'
  | 'get-deployment'
  | 'deployment-events'
  | 'cancel-deployment'
  | 'get-project'
  | 'assign-alias'
  | 'get-user'
  | 'get-team'
  | 'env-pull'
  | 'promote'
  | 'list-deployments'
  | 'delete-deployment'
  | 'delete-alias'
  | 'rollback'
  | 'rollback-aliases'
  | 'get-builds'
  | 'request-logs'
  | 'runtime-logs'
  | 'promote-aliases';

export interface MatchedRoute {
  name: RouteName;
  /** The path parameter (deployment id, project id or name, team id), when the route has one. */
  param?: string;
  /** Every path parameter in order (env pull: project, target, branch; promote: project, deployment). */
  params: string[];
  /** The request path as received, for messages that name it. */
  path: string;
  /** Query parameters the route allows, client `teamId`/`slug` already dropped. */
  query: URLSearchParams;
}

interface RouteSpec {
  name: RouteName;
  method: string;
  pattern: RegExp;
  query: readonly string[];
  /** Query keys whose value must be a 0/1 flag. */
  flags?: readonly string[];
}

const ID = '([A-Za-z0-9][A-Za-z0-9._-]{0,255})';
/**
 * A branch segment of an env pull: the CLI sends it through encodeURIComponent, so `feature/x`
 * arrives as `feature%2Fx`. Only `%2F` is accepted there; the branch is compared decoded.
 */
const BRANCH = '((?:[A-Za-z0-9._-]|%2[Ff]){1,255})';
const ENV_PULL = new RegExp(
  `^/v3/env/pull/${ID}/((?:[a-z0-9][a-z0-9-]{0,63}|env_[A-Za-z0-9]{1,64}))(?:/${BRANCH})?$`,
);
const EVENTS_QUERY = ['direction', 'follow', 'format', 'limit', 'since', 'until', 'builds', 'delimiter'];

const ROUTES: readonly RouteSpec[] = [
  { name: 'upload-file', method: 'POST', pattern: /^\/v2\/files$/, query: [] },
  { name: 'upload-batch', method: 'POST', pattern: /^\/v1\/files\/batch$/, query: [] },
  {
    name: 'create-deployment',
    method: 'POST',
    pattern: /^\/v13\/deployments$/,
    query: ['forceNew', 'skipAutoDetectionConfirmation', 'prebuilt', 'withCache'],
    flags: ['forceNew', 'skipAutoDetectionConfirmation', 'prebuilt', 'withCache'],
  },
  {
    name: 'get-deployment',
    method: 'GET',
    pattern: new RegExp(`^/v13/deployments/${ID}$`),
    query: ['withGitRepoInfo'],
  },
  {
    name: 'deployment-events',
    method: 'GET',
    pattern: new RegExp(`^/v3/deployments/${ID}/events$`),
    query: EVENTS_QUERY,
  },
  {
    name: 'deployment-events',
    method: 'GET',
    pattern: new RegExp(`^/v3/now/deployments/${ID}/events$`),
    query: EVENTS_QUERY,
  },
  {
    name: 'cancel-deployment',
    method: 'PATCH',
    pattern: new RegExp(`^/v12/deployments/${ID}/cancel$`),
    query: [],
  },
  {
    name: 'assign-alias',
    method: 'POST',
    pattern: new RegExp(`^/v2/deployments/${ID}/aliases$`),
    query: [],
  },
  {
    name: 'get-project',
    method: 'GET',
    pattern: new RegExp(`^/v9/projects/${ID}$`),
    // `vercel rollback status` and `promote status` poll with rollbackInfo=true.
    query: ['rollbackInfo'],
  },
  { name: 'get-user', method: 'GET', pattern: /^\/v2\/user$/, query: [] },
  { name: 'get-team', method: 'GET', pattern: new RegExp(`^/teams/${ID}$`), query: [] },
  { name: 'env-pull', method: 'GET', pattern: ENV_PULL, query: ['source'] },
  {
    name: 'promote',
    method: 'POST',
    pattern: new RegExp(`^/v10/projects/${ID}/promote/${ID}$`),
    query: [],
  },
  // Preview clean-up (handlers/cleanup.ts): only with cleanup_previews, only this branch's stamped previews.
  {
    name: 'list-deployments',
    method: 'GET',
    pattern: /^\/v6\/deployments$/,
    query: ['projectId', 'limit', 'until', 'state', 'target'],
  },
  {
    name: 'delete-deployment',
    method: 'DELETE',
    pattern: new RegExp(`^/v13/deployments/${ID}$`),
    query: [],
  },
  { name: 'delete-alias', method: 'DELETE', pattern: new RegExp(`^/v2/aliases/${ID}$`), query: [] },
  {
    name: 'rollback-aliases',
    method: 'GET',
    pattern: new RegExp(`^/v9/projects/${ID}/rollback/aliases$`),
    query: ['failedOnly', 'limit', 'until'],
  },
  {
    name: 'rollback',
    method: 'POST',
    pattern: new RegExp(`^/v9/projects/${ID}/rollback/${ID}$`),
    query: [],
  },
  // Read-only calls of `vercel inspect`, `vercel logs` and `promote status` (handlers/inspect.ts).
  { name: 'get-builds', method: 'GET', pattern: new RegExp(`^/v11/deployments/${ID}/builds$`), query: [] },
  {
    name: 'request-logs',
    method: 'GET',
    pattern: /^\/api\/logs\/request-logs$/,
    query: [
      'projectId',
      'ownerId',
      'page',
      'startDate',
      'endDate',
      'deploymentId',
      'environment',
      'level',
      'statusCode',
      'source',
      'search',
      'requestId',
      'branch',
    ],
  },
  {
    name: 'runtime-logs',
    method: 'GET',
    pattern: new RegExp(`^/v1/projects/${ID}/deployments/${ID}/runtime-logs$`),
    query: ['format', 'direction', 'limit', 'since', 'until'],
  },
  {
    name: 'promote-aliases',
    method: 'GET',
    pattern: new RegExp(`^/v9/projects/${ID}/promote/aliases$`),
    query: ['failedOnly', 'limit', 'until'],
  },
];

/** Scope comes from the credential: these are accepted from clients and then dropped. */
const SCOPE_KEYS = new Set(['teamId', 'slug']);
const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override'];

/**
 * Matches the request against the allow-list, or throws a 403 naming what was refused. `rawTarget`
 * is the request line's target as received: WHATWG URL parsing would quietly resolve `..` and
 * decode nothing, so ambiguity is judged on the raw bytes, before anyone normalises them.
 */
export function matchRoute(
  method: string,
  rawTarget: string,
  headers: { has(name: string): boolean },
): MatchedRoute {
  for (const name of METHOD_OVERRIDES) {
    if (headers.has(name)) throw forbidden(`method override header ${name} is not allowed`);
  }
  const queryStart = rawTarget.indexOf('?');
  const path = queryStart === -1 ? rawTarget : rawTarget.slice(0, queryStart);
  const search = queryStart === -1 ? '' : rawTarget.slice(queryStart + 1);
  if (
    !path.startsWith('/') ||
    (path.includes('%') && !ENV_PULL.test(path)) ||
    path.includes('//') ||
    path.includes('\\') ||
    /\/\.\.?(\/|$)/.test(path)
  ) {
    throw forbidden(
      `path ${JSON.stringify(path.slice(0, 200))} is not allowed: encoded characters, dot segments and doubled slashes are refused`,
    );
  }
  const spec = ROUTES.find((r) => r.pattern.test(path));
  if (!spec)
    throw forbidden(`${method} ${path} is not an allowed call; Keyhole forwards only what a deploy needs`);
  if (spec.method !== method) {
    const other = ROUTES.find((r) => r.method === method && r.pattern.test(path));
    if (!other)
      throw forbidden(`${method} ${path} is not an allowed call; Keyhole forwards only what a deploy needs`);
  }
  const route = ROUTES.find((r) => r.method === method && r.pattern.test(path))!;
  const params = (route.pattern.exec(path) ?? []).slice(1).filter((p): p is string => p !== undefined);
  const param = params[0];

  const incoming = new URLSearchParams(search);
  const seen = new Set<string>();
  const query = new URLSearchParams();
  for (const [key, value] of incoming) {
    if (seen.has(key)) throw forbidden(`query parameter ${key} appears twice`);
    seen.add(key);
    if (SCOPE_KEYS.has(key)) continue;
    if (!route.query.includes(key))
      throw forbidden(`query parameter ${key} is not allowed on ${method} ${path}`);
    if (route.flags?.includes(key) && value !== '0' && value !== '1') {
      throw forbidden(`query parameter ${key} must be 0 or 1`);
    }
    query.set(key, value);
  }
  return { name: route.name, ...(param !== undefined ? { param } : {}), params, path, query };
}
