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
import {
  getBuilds,
  getRequestLogs,
  promoteAliases,
  rollbackAliases,
  streamRuntimeLogs,
} from './handlers/inspect.js';
import { getTeam, getUser } from './handlers/local.js';
import { getProject } from './handlers/project.js';
import { promote } from './handlers/promote.js';
import { rollback } from './handlers/rollback.js';
import { uploadFile, uploadOne } from './handlers/upload.js';
import type { PlainAnswer } from './forward.js';
import { matchRoute, type RouteName } from './routes.js';

export type { GatewayDeps, GatewayResult } from './context.js';
export type { PlainAnswer } from './forward.js';

/**
 * A per-file upload (`POST /v2/files`) handed over without a web Request: the raw target, header
 * values as `Headers.get` reads them (names lower-case; a repeated header's values joined with
 * ", "), and the body. The Node adapter's lean path (host/node/server.ts); every check of the web
 * path runs on it, in the same order, through the same functions.
 */
export interface UploadRequest {
  readonly method: string;
  readonly rawTarget: string;
  readonly headers: { get(name: string): string | null; has(name: string): boolean };
  readonly body: AsyncIterable<Uint8Array>;
}

/** A lean upload's outcome, with what the audit line reads. */
export interface UploadResult {
  answer: PlainAnswer;
  route: RouteName;
  claims: GatewayResult['claims'];
  upstreamStatus: number;
  bytes: number;
}

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

  /** Claims and route of a call, or the refusal with the claims for its audit line. */
  async function admit(request: UploadRequest | Request, rawTarget: string) {
    const claims = await authenticate(request, rawTarget);
    try {
      return { claims, route: matchRoute(request.method, rawTarget, request.headers) };
    } catch (error) {
      if (error instanceof BrokerError) error.with({ claims });
      throw error;
    }
  }

  /** The lean per-file upload: authenticate → matchRoute → pin → the upload handler's checks. */
  async function upload(request: UploadRequest): Promise<UploadResult> {
    const { claims, route } = await admit(request, request.rawTarget);
    try {
      // The adapter hands over only POST /v2/files targets; anything else is a bug, not a call.
      if (route.name !== 'upload-file') throw new Error(`a lean upload matched ${route.name}`);
      const ctx = { ...instance, claims, ...pinProject(deps, claims) };
      const { answer, bytes } = await uploadOne(ctx, {
        header: (name) => request.headers.get(name),
        body: request.body,
      });
      return { answer, route: route.name, claims, upstreamStatus: answer.status, bytes };
    } catch (error) {
      if (error instanceof BrokerError) error.with({ claims, route: route.name });
      throw error;
    }
  }

  /** Handles one gateway call; `rawTarget` is the request target exactly as received. */
  async function handleGateway(
    request: Request,
    rawTarget: string,
    nodeBody?: AsyncIterable<Uint8Array>,
  ): Promise<GatewayResult> {
    const { claims, route } = await admit(request, rawTarget);
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
  }
  return Object.assign(handleGateway, { upload });
}
