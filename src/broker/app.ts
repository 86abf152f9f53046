/** The whole broker as a web-standard `fetch(Request) → Response`: runs on Node, Vercel Functions and Workers. */
import { Hono } from 'hono';
import type { Logger } from './audit.js';
import { BrokerError } from './errors.js';
import { handleExchange, type ExchangeDeps } from './exchange/handler.js';
import {
  createGateway,
  type GatewayResult,
  type PlainAnswer,
  type UploadRequest,
  type UploadResult,
} from './gateway/index.js';
import type { CredentialClaims, SigningKeys } from './credential/credential.js';
import type { TokenVerifier } from './oidc/verify.js';
import type { CompiledConfig } from './policy/compiled.js';
import type { ReplayStore } from './store/store.js';
import { EXCHANGE_PATH, REVOKE_PATH } from '../shared/wire.js';
import { randomHex } from './bytes.js';
import { credentialRunUrl } from './github/job.js';
import { createRevocations, handleRevoke } from './credential/revocation.js';
import { createExchangeRateLimit } from './limits/rate.js';
import type { GitHubApp, GitHubObserver } from './github/app.js';
import { createJobStatusChecker } from './github/job-status.js';

export interface BrokerDeps {
  config: CompiledConfig;
  keys: SigningKeys;
  verifyToken: TokenVerifier;
  replay: ReplayStore;
  logger: Logger;
  fetch?: typeof fetch;
  upstreamToken: (envName: string) => string | undefined;
  serverUrl?: string;
  now?: () => number;
  /** A fetch per project with its own socket pool (Node adapter); else `fetch` serves all. */
  fetchFor?: (project: string) => typeof fetch;
  /** Required when the config has `github_app`: asks GitHub whether a job is still running. */
  githubApp?: GitHubApp;
  /** Counts what the job checks spared GitHub (a spent budget); the app client counts its requests. */
  githubObserver?: GitHubObserver;
  /** The platform's SHA-1 (the Node adapter's), for batched uploads; WebCrypto when absent. */
  sha1Hex?: (pieces: readonly Uint8Array[]) => string;
}

export interface Broker {
  /**
   * `rawTarget` is the request target as received (Node adapter); platforms that normalise URLs
   * omit it. `nodeBody` is the adapter's own body stream, used for uploads instead of `request.body`.
   */
  fetch(request: Request, rawTarget?: string, nodeBody?: AsyncIterable<Uint8Array>): Promise<Response>;
  /**
   * A per-file upload (`POST /v2/files`) without web Request/Response objects, for adapters that
   * can skip them (the Node adapter): the same checks, audit line and refusals as through `fetch`.
   */
  upload?(request: UploadRequest): Promise<PlainAnswer>;
}

export type { PlainAnswer, UploadRequest };

type Env = {
  Bindings: { rawTarget?: string; nodeBody?: AsyncIterable<Uint8Array> };
  Variables: {
    requestId: string;
    /** The handler built its answer with `x-request-id` already (the exchange). */
    answerHasRequestId?: boolean;
  };
};

/**
 * A random per-process prefix and a counter: unique across instances, without a CSPRNG call per
 * request. Drawn on first use: workerd refuses random values at module scope (outside a handler).
 */
let requestIdPrefix: string | undefined;
let requestCounter = 0;
function newRequestId(): string {
  requestIdPrefix ??= `req_${randomHex(6)}`;
  return `${requestIdPrefix}${(requestCounter++).toString(36).padStart(6, '0')}`;
}

function errorAnswer(error: BrokerError, requestId: string): PlainAnswer {
  const body = { error: { code: error.code, message: error.message, request_id: requestId } };
  return {
    status: error.status,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'x-request-id': requestId,
      ...error.headers,
    },
    body: JSON.stringify(body),
  };
}

const toResponse = (answer: PlainAnswer) =>
  new Response(answer.body as BodyInit, { status: answer.status, headers: answer.headers });

export function createBroker(deps: BrokerDeps): Broker {
  const now = deps.now ?? Date.now;
  const serverUrl = deps.serverUrl ?? 'https://github.com';
  const revocations = createRevocations(deps.replay, now);
  if (deps.config.githubApp && !deps.githubApp)
    throw new Error('the config has github_app, but no GitHub App client was given to the broker');
  const jobStatus =
    deps.config.githubApp && deps.githubApp
      ? createJobStatusChecker({
          github: deps.githubApp,
          cacheMs: deps.config.githubApp.check_cache_seconds * 1000,
          logger: deps.logger,
          now,
          store: deps.replay,
          budgetPerMinute: deps.config.githubApp.max_requests_per_repository_per_minute,
          ...(deps.githubObserver ? { observe: deps.githubObserver } : {}),
        })
      : undefined;
  const exchangeDeps: ExchangeDeps = {
    ...deps,
    now,
    serverUrl,
    exchangeRate: createExchangeRateLimit(now),
    revocations,
    ...(jobStatus ? { jobStatus } : {}),
  };
  const gateway = createGateway({
    config: deps.config,
    store: deps.replay,
    keys: deps.keys,
    logger: deps.logger,
    // Bound: workerd throws "Illegal invocation" when fetch is called as another object's method.
    fetch: deps.fetch ?? fetch.bind(globalThis),
    upstreamToken: deps.upstreamToken,
    serverUrl,
    now,
    revocations,
    ...(deps.fetchFor ? { fetchFor: deps.fetchFor } : {}),
    ...(deps.sha1Hex ? { sha1Hex: deps.sha1Hex } : {}),
    ...(jobStatus ? { jobStatus } : {}),
  });
  const credentialFields = (claims: CredentialClaims | undefined) =>
    claims ? { ...claimFields(claims), run_url: credentialRunUrl(serverUrl, claims) } : {};
  const app = new Hono<Env>();

  app.use(async (c, next) => {
    c.set('requestId', newRequestId());
    await next();
    // Setting a header on a built answer materializes its Headers object (a measurable share of
    // an exchange's CPU), so the exchange builds its answer with the id instead.
    if (!c.get('answerHasRequestId')) c.res.headers.set('x-request-id', c.get('requestId'));
  });

  app.get('/healthz', (c) => c.json({ ok: true }));

  // Every method reaches the exchange, which answers 405 for all but POST (never the gateway's 401).
  app.all(EXCHANGE_PATH, async (c) => {
    const response = await handleExchange(c.req.raw, exchangeDeps, c.get('requestId'), c.env?.nodeBody);
    c.set('answerHasRequestId', true);
    return response;
  });

  app.post(REVOKE_PATH, (c) =>
    handleRevoke(
      c.req.raw,
      { keys: deps.keys, revocations, logger: deps.logger, now, serverUrl },
      c.get('requestId'),
    ),
  );

  /** The audit line of an allowed gateway call (both paths). */
  const auditAllowed = (
    result: Omit<GatewayResult, 'response'>,
    status: number,
    requestId: string,
    started: number,
  ) =>
    deps.logger.audit({
      event: 'gateway',
      decision: 'allow',
      request_id: requestId,
      route: result.route,
      status,
      upstream_status: result.upstreamStatus,
      bytes: result.bytes,
      ...result.audit,
      ...(result.files !== undefined ? { files: result.files } : {}),
      duration_ms: now() - started,
      ...credentialFields(result.claims!),
    });

  app.all('*', async (c) => {
    const started = now();
    const url = new URL(c.req.url);
    const result = await gateway(c.req.raw, c.env?.rawTarget ?? url.pathname + url.search, c.env?.nodeBody);
    auditAllowed(result, result.response.status, c.get('requestId'), started);
    return result.response;
  });

  const refuse = refusalOf(deps.logger, credentialFields);
  app.onError((error, c) =>
    toResponse(refuse(error, c.get('requestId') ?? newRequestId(), c.req.method, c.req.path)),
  );

  return {
    fetch: async (request, rawTarget, nodeBody) => app.fetch(request, { rawTarget, nodeBody }),
    upload: leanUpload(gateway.upload, auditAllowed, refuse, now),
  };
}

/** `Broker.upload`: the steps of the middleware, `app.all('*')` and the funnel, without Hono's context. */
function leanUpload(
  upload: (request: UploadRequest) => Promise<UploadResult>,
  auditAllowed: (result: UploadResult, status: number, requestId: string, started: number) => void,
  refuse: ReturnType<typeof refusalOf>,
  now: () => number,
): NonNullable<Broker['upload']> {
  return async (request) => {
    const requestId = newRequestId();
    const started = now();
    try {
      const result = await upload(request);
      const { answer } = result;
      auditAllowed(result, answer.status, requestId, started);
      return { ...answer, headers: { ...answer.headers, 'x-request-id': requestId } };
    } catch (error) {
      return refuse(error as Error, requestId, request.method, request.rawTarget.split('?')[0]!);
    }
  };
}

/** The one error funnel: known errors keep their code and message; anything else is a generic 500. */
function refusalOf(
  logger: Logger,
  credentialFields: (claims: CredentialClaims | undefined) => Record<string, unknown>,
) {
  return (error: Error, requestId: string, method: string, path: string): PlainAnswer => {
    const known = error instanceof BrokerError;
    const refusal = known ? error : undefined;
    const isExchange = path === EXCHANGE_PATH;
    if (!known)
      logger.log('error', 'unhandled error', {
        request_id: requestId,
        error: String(error?.stack ?? error),
      });
    const response = known
      ? errorAnswer(error, requestId)
      : errorAnswer(
          new BrokerError(500, 'internal_error', 'The broker failed; the request id is in its log.'),
          requestId,
        );
    logger.audit({
      event: isExchange ? 'exchange' : path === REVOKE_PATH ? 'revoke' : 'gateway',
      decision: known && error.status < 500 ? 'deny' : 'error',
      reason: known ? (error.reason ?? error.message) : 'internal error',
      code: known ? error.code : 'internal_error',
      request_id: requestId,
      status: response.status,
      ...(isExchange
        ? refusal?.audit
        : {
            route: refusal?.route ?? `${method} ${path}`.slice(0, 200),
            ...credentialFields(refusal?.claims),
          }),
    });
    return response;
  };
}

function claimFields(claims: CredentialClaims) {
  return {
    credential_id: claims.cid,
    project: claims.pn,
    target: claims.tgt,
    repository: claims.repo,
    repository_id: claims.rid,
    ref: claims.ref,
    sha: claims.sha,
    run_id: claims.run,
    run_attempt: claims.att,
    workflow: claims.wf,
  };
}

export type { SigningKeys, ReplayStore, TokenVerifier };
