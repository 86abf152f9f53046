/** The deny-by-default Vercel gateway: credential → route allow-list → body rules → fresh upstream request. */
import { BrokerError } from '../errors.js';
import { createAuthenticator } from './authenticate.js';
import {
  createGatewayState,
  pinProject,
  type CallContext,
  type GatewayDeps,
  type GatewayResult,
  type Handler,
  type ProjectContext,
} from './context.js';
import { assignAlias } from './handlers/alias.js';
import { uploadBatch } from './handlers/batch.js';
import { deleteAlias, deleteDeployment, listDeployments } from './handlers/cleanup.js';
import { createDeployment } from './handlers/create.js';
import { cancelDeployment, getDeployment, streamDeploymentEvents } from './handlers/deployment.js';
import { pullEnv } from './handlers/env-pull.js';
import { getBuilds, getRequestLogs, promoteAliases, streamRuntimeLogs } from './handlers/inspect.js';
import { getTeam, getUser } from './handlers/local.js';
import { getProject } from './handlers/project.js';
import { promote } from './handlers/promote.js';
import { rollback, rollbackAliases } from './handlers/rollback.js';
import { uploadFile } from './handlers/upload.js';
import { matchRoute, type MatchedRoute, type RouteName } from './routes.js';

export type { GatewayDeps, GatewayResult } from './context.js';

export function createGateway(deps: GatewayDeps) {
  const authenticate = createAuthenticator(deps);
  const instance = {
    config: deps.config,
    store: deps.store,
    keys: deps.keys,
    now: deps.now,
    serverUrl: deps.serverUrl,
    sha1Hex: deps.sha1Hex,
    state: createGatewayState(deps.config),
  };
  /** A handler of the credential's pinned project: the project and its upstream are checked on every call. */
  const pinned =
    (handle: (ctx: ProjectContext) => Promise<GatewayResult>): Handler =>
    async (ctx) =>
      handle({ ...ctx, ...pinProject(deps, ctx.claims) });
  const handlers = {
    'get-user': getUser,
    'get-team': getTeam,
    'upload-file': pinned(uploadFile),
    'upload-batch': pinned(uploadBatch),
    'create-deployment': pinned(createDeployment),
    'assign-alias': pinned(assignAlias),
    'get-deployment': pinned(getDeployment),
    'deployment-events': pinned(streamDeploymentEvents),
    'cancel-deployment': pinned(cancelDeployment),
    'get-project': pinned(getProject),
    'env-pull': pinned(pullEnv),
    promote: pinned(promote),
    'list-deployments': pinned(listDeployments),
    'delete-deployment': pinned(deleteDeployment),
    'delete-alias': pinned(deleteAlias),
    rollback: pinned(rollback),
    'rollback-aliases': pinned(rollbackAliases),
    'get-builds': pinned(getBuilds),
    'request-logs': pinned(getRequestLogs),
    'runtime-logs': pinned(streamRuntimeLogs),
    'promote-aliases': pinned(promoteAliases),
  } satisfies Record<RouteName, Handler>;

  /** Handles one gateway call; `rawTarget` is the request target exactly as received. */
  return async function handleGateway(
    request: Request,
    rawTarget: string,
    nodeBody?: AsyncIterable<Uint8Array>,
  ): Promise<GatewayResult> {
    const claims = await authenticate(request, rawTarget);
    let route: MatchedRoute;
    try {
      route = matchRoute(request.method, rawTarget, request.headers);
    } catch (error) {
      if (error instanceof BrokerError) error.with({ claims });
      throw error;
    }
    const ctx: CallContext = { ...instance, request, route, claims, nodeBody };
    try {
      const result = await handlers[route.name](ctx);
      return {
        ...result,
        route: route.name,
        claims,
        upstreamStatus: result.upstreamStatus ?? result.response.status,
      };
    } catch (error) {
      if (error instanceof BrokerError) error.with({ claims, route: route.name });
      throw error;
    }
  };
}
