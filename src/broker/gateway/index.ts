/** The deny-by-default Vercel gateway: credential → route allow-list → body rules → fresh upstream request. */
import type { AuditEvent, Logger } from '../audit.js';
import {
  createCredentialVerifier,
  type CredentialClaims,
  type SigningKeys,
} from '../credential/credential.js';
import { badRequest, BrokerError, forbidden, invalidCredential, notFound } from '../errors.js';
import type { CompiledConfig, CompiledProject } from '../policy/compiled.js';
import { storeKeys, type ReplayStore } from '../store/store.js';
import { toHex } from '../bytes.js';
import { foldCase } from '../fold-case.js';
import { assignAlias, recordCreated } from './handlers/alias.js';
import { checkCreateBody } from './body-rules.js';
import {
  copyResponseHeaders,
  fileHeaders,
  forwardToVercel,
  relayResponse,
  uploadToVercel,
  type Upstream,
  type UpstreamFetch,
  type UpstreamRequest,
  type WholeAnswer,
} from './forward.js';
import { matchRoute, type MatchedRoute } from './routes.js';
import { readLimitedText } from '../http.js';
import type { Revocations } from '../credential/revocation.js';
import { ProofError, verifyProof } from '../credential/dpop.js';
import { ByteBudget } from '../limits/byte-budget.js';
import { InflightLimit } from '../limits/inflight.js';
import type { JobStatusChecker } from '../github/job-status.js';
import { JOB_WINDOW_MS } from '../github/job.js';
import {
  BATCH_CONTENT_TYPE,
  BATCH_FILES_HEADER,
  BATCH_FRAME_HEADER_BYTES,
  isErrorBody,
  type BatchFileResult,
  type BatchResponse,
} from '../../shared/wire.js';
import { BATCH_FANOUT, batchCapability, FrameReader, holdFrame, tooLarge } from './frames.js';

/** The project fields `vercel deploy` reads; env vars, tokens, domains and links are never returned. */
const PROJECT_FIELDS = [
  'id',
  'name',
  'accountId',
  'framework',
  'rootDirectory',
  'buildCommand',
  'devCommand',
  'installCommand',
  'outputDirectory',
  'nodeVersion',
  'createdAt',
  'updatedAt',
  'directoryListing',
  'sourceFilesOutsideRootDirectory',
  'commandForIgnoringBuildStep',
  'serverlessFunctionRegion',
  'skipGitConnectDuringLink',
];
/** The parts of a project's alias state that say where production points (what `vercel promote` polls). */
const ALIAS_REQUEST_FIELDS = ['fromDeploymentId', 'toDeploymentId', 'jobStatus', 'requestedAt', 'type'];
const NAME_TTL_MS = 10 * 60_000;
const USER_AGENT = 'keyhole-broker/0.1';

export interface GatewayDeps {
  config: CompiledConfig;
  /** Shared with other instances: what each credential created, and creates in flight. */
  store: ReplayStore;
  keys: SigningKeys;
  logger: Logger;
  fetch: UpstreamFetch;
  /** Reads the upstream token for a project (an environment variable by default). */
  upstreamToken: (envName: string) => string | undefined;
  /** GitHub's web origin, for the run URL stamped into deployment metadata. */
  serverUrl: string;
  now: () => number;
  /** Shared with other instances through the store: a revoked credential stops within a second. */
  revocations: Revocations;
  /** A fetch per project (its own bounded socket pool), so one project cannot take another's sockets. */
  fetchFor?: (project: string) => UpstreamFetch;
  /** With a github_app: a credential of a job that ended stops within `check_cache_seconds`. */
  jobStatus?: JobStatusChecker;
  /** The platform's SHA-1 (Node's), for batch frames; WebCrypto otherwise. */
  sha1Hex?: (pieces: readonly Uint8Array[]) => string;
}

/** The digests this instance has counted for a job (the counts themselves are in the store). */
interface Usage {
  files: Set<string>;
  expires: number;
}

export interface GatewayResult {
  response: Response;
  route?: string;
  claims?: CredentialClaims;
  upstreamStatus?: number;
  bytes?: number;
  /** Extra audit fields: which variable names an env pull handed out, which deployment was promoted. */
  audit?: Pick<AuditEvent, 'env_names' | 'promoted_deployment' | 'promoted_sha'>;
  /** Files a batch carried. */
  files?: number;
}

const json = (status: number, body: unknown, headers?: HeadersInit) =>
  new Response(JSON.stringify(body), {
    status,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      ...Object.fromEntries(new Headers(headers)),
    },
  });

/** An upstream error answer's JSON, if it is JSON. */
function parseJson(answer: WholeAnswer): unknown {
  if (!answer.contentType.includes('json')) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(answer.body));
  } catch {
    return undefined;
  }
}

export function createGateway(deps: GatewayDeps) {
  const usage = new Map<string, Usage>();
  const verifyCredential = createCredentialVerifier(deps.keys);
  const names = new Map<string, { name: string; at: number }>();
  const inflightUploads = new InflightLimit('uploads');
  const inflightCreates = new InflightLimit('deployment creates');
  // A batch buffers its frames in the budget every project shares: one credential gets the share of
  // as many batches as its upload slots can forward at once (4 by default, the action's own
  // concurrency), so stalled batches cannot take the bytes another project's create needs.
  const inflightBatches = new InflightLimit('batched uploads');
  // One job may buffer half the budget (or one create body of max_body_bytes, if that is more).
  const buffered = new ByteBudget(
    () => deps.config.limits.max_buffered_body_bytes,
    () => Math.max(deps.config.limits.max_buffered_body_bytes / 2, deps.config.limits.max_body_bytes),
  );

  function usageFor(claims: CredentialClaims): Usage {
    const owner = budgetOwner(claims);
    let entry = usage.get(owner);
    if (!entry) {
      const now = deps.now();
      for (const [key, u] of usage) if (u.expires <= now) usage.delete(key);
      entry = { files: new Set(), expires: claims.exp };
      usage.set(owner, entry);
    }
    entry.expires = Math.max(entry.expires, claims.exp);
    return entry;
  }

  async function authenticate(request: Request, rawTarget: string): Promise<CredentialClaims> {
    const header = request.headers.get('authorization') ?? '';
    const match = /^(Bearer|DPoP) (\S+)$/i.exec(header);
    if (!match) throw invalidCredential('Send the Keyhole credential as "Authorization: Bearer khd_…".');
    const [, scheme, credential] = match as unknown as [string, string, string];
    const claims = await verifyCredential(credential, deps.now());
    const refuse = (error: BrokerError, reason: string) => error.with({ claims, reason });
    await deps.revocations.check(claims);
    if (claims.jkt) {
      // RFC 9449 §7.1: a bound credential presented as a bearer token is refused, proof or not.
      if (scheme.toLowerCase() !== 'dpop')
        throw refuse(
          new ProofError(
            401,
            'missing',
            'This credential is bound to a key (DPoP): send "Authorization: DPoP khd_…" and a fresh proof in the "DPoP" header.',
          ),
          'dpop proof missing',
        );
      try {
        await verifyProof({
          request,
          publicUrl: deps.config.publicUrl!,
          path: pathOf(rawTarget),
          store: deps.store,
          now: deps.now,
          credential,
          boundTo: claims.jkt,
          status: 401,
        });
      } catch (error) {
        if (error instanceof ProofError) throw refuse(error, `dpop proof ${error.failure}`);
        throw error;
      }
    } else if (scheme.toLowerCase() === 'dpop') {
      throw refuse(
        invalidCredential('This credential is not bound to a key; send it as "Authorization: Bearer khd_…".'),
        'dpop scheme with an unbound credential',
      );
    } else if (deps.config.projects.get(claims.pn)?.requireDpop) {
      // Policy is re-read on every call: bearer credentials minted before require_dpop was turned on stop at once.
      throw refuse(
        invalidCredential(
          `Project ${claims.pn} now requires DPoP-bound credentials (require_dpop: true); run the Keyhole action again for a new credential.`,
        ),
        'unbound credential for a require_dpop project',
      );
    }
    await deps.jobStatus?.onCall(claims, deps.config.projects.get(claims.pn));
    return claims;
  }

  function projectFor(claims: CredentialClaims): { project: CompiledProject; upstream: Upstream } {
    const project = deps.config.projects.get(claims.pn);
    // Policy is re-read on every call: a project removed from the config stops working at once.
    if (!project || project.projectId !== claims.prj || project.teamId !== claims.team) {
      throw invalidCredential('The credential names a project this broker no longer serves.');
    }
    const token = deps.upstreamToken(project.tokenEnv);
    if (!token)
      throw new BrokerError(
        503,
        'unavailable',
        'The broker has no upstream token for this project; tell its admin.',
      );
    return {
      project,
      upstream: {
        baseUrl: deps.config.vercelApiUrl,
        token,
        fetch: deps.fetchFor?.(project.name) ?? deps.fetch,
        timeoutMs: deps.config.limits.upstream_timeout_seconds * 1000,
        userAgent: USER_AGENT,
      },
    };
  }

  async function vercelName(project: CompiledProject, upstream: Upstream): Promise<string> {
    const cached = names.get(project.projectId);
    if (cached && deps.now() - cached.at < NAME_TTL_MS) return cached.name;
    try {
      const response = await forwardToVercel(upstream, {
        method: 'GET',
        path: `/v9/projects/${project.projectId}`,
        query: new URLSearchParams(),
        teamId: project.teamId,
      });
      const body = (await response.json()) as { name?: unknown };
      if (response.ok && typeof body.name === 'string') {
        names.set(project.projectId, { name: body.name, at: deps.now() });
        return body.name;
      }
    } catch {
      // `project` pins the deployment either way; the name only shapes its URL.
    }
    return project.name;
  }

  /** Reads a deployment upstream and answers 404 unless it belongs to the pinned project. */
  async function ownedDeployment(
    id: string,
    project: CompiledProject,
    upstream: Upstream,
    query = new URLSearchParams(),
  ) {
    const response = await forwardToVercel(upstream, {
      method: 'GET',
      path: `/v13/deployments/${id}`,
      query,
      teamId: project.teamId,
    });
    // Vercel may answer another team's deployment 403 (or a malformed id 400) rather than 404: all
    // three answer exactly like an unknown id, so no status tells a caller what exists elsewhere.
    if (response.status === 400 || response.status === 403 || response.status === 404) {
      await response.body?.cancel();
      throw notFound();
    }
    if (!response.ok) return { response: await relayResponse(response), body: undefined };
    const body = (await response.json()) as Record<string, unknown>;
    // A foreign deployment is indistinguishable from a missing one.
    if (body.projectId !== project.projectId) throw notFound();
    return { response, body };
  }

  async function uploadFile(
    request: Request,
    claims: CredentialClaims,
    project: CompiledProject,
    upstream: Upstream,
    nodeBody?: AsyncIterable<Uint8Array>,
  ) {
    const h = request.headers;
    const digests = [h.get('x-vercel-digest'), h.get('x-now-digest')].filter((d): d is string => d !== null);
    if (digests.length === 0) throw badRequest('send the file SHA-1 in x-vercel-digest or x-now-digest');
    const digest = digests[0]!.toLowerCase();
    if (!/^[0-9a-f]{40}$/.test(digest) || digests.some((d) => d.toLowerCase() !== digest)) {
      throw badRequest('the digest header must be one SHA-1 in 40 hex digits');
    }
    const lengths = [h.get('content-length'), h.get('x-now-size')].filter((v): v is string => v !== null);
    if (lengths.length === 0)
      throw badRequest(
        'send the file size in Content-Length or x-now-size; bodies without a length are refused',
      );
    const size = Number(lengths[0]);
    if (!/^[0-9]+$/.test(lengths[0]!) || lengths.some((l) => Number(l) !== size)) {
      throw badRequest('Content-Length and x-now-size must be one non-negative integer');
    }
    const { limits } = deps.config;
    if (size > limits.max_file_bytes)
      throw new BrokerError(
        413,
        'payload_too_large',
        `a file may have at most ${limits.max_file_bytes} bytes`,
      );
    const release = await inflightUploads.acquire(budgetOwner(claims), limits.max_inflight_uploads);
    try {
      return await forwardUpload(request, claims, project, upstream, digest, size, nodeBody);
    } finally {
      release();
    }
  }

  /**
   * Takes one file's share of the job's byte and file budgets (429 past either) and returns the
   * refund for an upload Vercel did not store. One path for /v2/files and the batch.
   */
  async function takeUploadQuota(
    claims: CredentialClaims,
    digest: string,
    size: number,
  ): Promise<() => Promise<void>> {
    const { limits } = deps.config;
    const use = usageFor(claims);
    // Byte and file budgets belong to the job and are counted in the shared store, so several
    // credentials of one job, on any instances, share one budget. A digest is counted once per
    // instance; on several instances it may count twice, which only errs on the strict side.
    const owner = budgetOwner(claims);
    const budget = async (what: 'bytes' | 'files', amount: number, max: number) => {
      try {
        return await deps.store.take(storeKeys.uploads(what, owner), amount, max, JOB_WINDOW_MS);
      } catch {
        throw new BrokerError(
          503,
          'unavailable',
          'The broker cannot count uploads right now; retry shortly.',
          {
            'retry-after': '2',
          },
        );
      }
    };
    const isNew = !use.files.has(digest);
    if (isNew) use.files.add(digest);
    if (isNew && (await budget('files', 1, limits.max_files)) === undefined) {
      use.files.delete(digest);
      throw new BrokerError(
        429,
        'quota_exceeded',
        `this job has uploaded ${limits.max_files} files, its limit`,
      );
    }
    if ((await budget('bytes', size, limits.max_upload_bytes)) === undefined) {
      if (isNew) {
        use.files.delete(digest);
        await budget('files', -1, limits.max_files);
      }
      throw new BrokerError(
        429,
        'quota_exceeded',
        `this job may upload at most ${limits.max_upload_bytes} bytes`,
      );
    }
    // Once only: a failed upload may reach both the refusal branch and the catch of its caller,
    // and a second give-back would push the job's shared counters below zero (quota for free).
    let refunded = false;
    return async () => {
      if (refunded) return;
      refunded = true;
      await budget('bytes', -size, limits.max_upload_bytes);
      if (isNew) {
        use.files.delete(digest);
        await budget('files', -1, limits.max_files);
      }
    };
  }

  async function forwardUpload(
    request: Request,
    claims: CredentialClaims,
    project: CompiledProject,
    upstream: Upstream,
    digest: string,
    size: number,
    nodeBody?: AsyncIterable<Uint8Array>,
  ) {
    const refund = await takeUploadQuota(claims, digest, size);
    // Streamed straight through (the Node adapter hands over its own stream, skipping two web
    // stream conversions): memory stays flat whatever the size; a body longer or shorter than
    // declared aborts the upstream request instead of storing a truncated file.
    const source = nodeBody ?? (request.body as AsyncIterable<Uint8Array> | null);
    // fetch implementations re-wrap a failing body's error; the gateway keeps its own verdict.
    let bodyError: BrokerError | undefined;
    // The upstream request (and its pooled socket) starts only once the body does: a client that
    // declares a size and sends nothing holds no upstream socket (the adapter's body deadline ends it).
    const headers = new Headers(fileHeaders(digest, size));
    try {
      const started = source && size > 0 ? await startOfBody(source) : source;
      const counted = started ? exactly(started, size, (error) => (bodyError = error)) : undefined;
      const response = await forwardToVercel(upstream, {
        method: 'POST',
        path: '/v2/files',
        query: new URLSearchParams(),
        teamId: project.teamId,
        headers,
        body: size === 0 ? new Uint8Array() : (counted ?? new Uint8Array()),
        contentLength: size,
      });
      if (!response.ok) await refund();
      return { response: await relayResponse(response), bytes: size };
    } catch (error) {
      await refund().catch(() => undefined);
      throw bodyError ?? error;
    }
  }

  /**
   * Keyhole's batched upload: frames read one by one, each held in memory only once its size is
   * within the caps and the buffered-bytes budget, forwarded only once its digest matches its bytes
   * (no partial or mislabelled file ever reaches Vercel), at most BATCH_FANOUT at once, each under
   * the same in-flight slot and job quotas as a /v2/files upload. A framing or digest lie fails the
   * whole batch (400/413) after what was already forwarded settles; a quota or upstream refusal
   * fails only its file, reported per file so the client retries just those.
   */
  async function uploadBatch(
    request: Request,
    claims: CredentialClaims,
    project: CompiledProject,
    upstream: Upstream,
    nodeBody?: AsyncIterable<Uint8Array>,
  ): Promise<GatewayResult> {
    const { limits } = deps.config;
    const capability = batchCapability(limits);
    const h = request.headers;
    if ((h.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase() !== BATCH_CONTENT_TYPE)
      throw badRequest(`a batch is sent as Content-Type: ${BATCH_CONTENT_TYPE}`);
    const lengthHeader = h.get('content-length');
    if (lengthHeader === null || !/^[0-9]{1,16}$/.test(lengthHeader))
      throw badRequest('a batch needs a Content-Length; bodies without a length are refused');
    const length = Number(lengthHeader);
    if (length > capability.max_bytes)
      throw tooLarge(`a batch may have at most ${capability.max_bytes} bytes; this one declares ${length}`);
    const countHeader = h.get(BATCH_FILES_HEADER) ?? '';
    if (!/^[0-9]{1,6}$/.test(countHeader) || Number(countHeader) === 0)
      throw badRequest(`send the number of frames in ${BATCH_FILES_HEADER} (1 or more)`);
    const declared = Number(countHeader);
    if (declared > capability.max_files)
      throw tooLarge(`a batch may hold at most ${capability.max_files} files; this one declares ${declared}`);
    if (length < declared * BATCH_FRAME_HEADER_BYTES)
      throw badRequest(
        `${declared} frames need at least ${declared * BATCH_FRAME_HEADER_BYTES} bytes; Content-Length says ${length}`,
      );
    const source = nodeBody ?? (request.body as AsyncIterable<Uint8Array> | null);
    if (!source) throw badRequest('the batch has no body');
    const batchSlots = Math.max(1, Math.floor(limits.max_inflight_uploads / BATCH_FANOUT));
    const releaseBatch = await inflightBatches.acquire(budgetOwner(claims), batchSlots);
    try {
      return await readBatch(claims, project, upstream, source, length, declared, capability);
    } finally {
      releaseBatch();
    }
  }

  async function readBatch(
    claims: CredentialClaims,
    project: CompiledProject,
    upstream: Upstream,
    source: AsyncIterable<Uint8Array>,
    length: number,
    declared: number,
    capability: ReturnType<typeof batchCapability>,
  ): Promise<GatewayResult> {
    const { limits } = deps.config;
    const reader = new FrameReader(source, deps.sha1Hex);
    const owner = budgetOwner(claims);
    const results: BatchFileResult[] = new Array(declared);
    const inFlight = new Set<Promise<void>>();
    let bytes = 0;
    const forward = async (index: number, sha: string, file: Uint8Array[], size: number, held: number) => {
      let refund: (() => Promise<void>) | undefined;
      let release: (() => void) | undefined;
      try {
        release = await inflightUploads.acquire(budgetOwner(claims), limits.max_inflight_uploads);
        refund = await takeUploadQuota(claims, sha, size);
        const answer = await uploadToVercel(upstream, project.teamId, sha, file);
        if (answer.status >= 200 && answer.status < 300) {
          results[index] = { sha, status: answer.status };
          return;
        }
        await refund();
        const body = parseJson(answer);
        results[index] = {
          sha,
          status: answer.status,
          error: isErrorBody(body)
            ? { code: body.error.code, message: String(body.error.message).slice(0, 300) }
            : { code: 'upstream_error', message: `Vercel answered ${answer.status}` },
        };
      } catch (error) {
        if (refund) await refund().catch(() => undefined);
        const known = error instanceof BrokerError ? error : undefined;
        results[index] = {
          sha,
          status: known?.status ?? 502,
          error: {
            code: known?.code ?? 'upstream_error',
            message: known?.message ?? 'Vercel could not be reached; retry.',
          },
        };
      } finally {
        release?.();
        buffered.release(held, owner);
      }
    };
    try {
      for (let index = 0; index < declared; index++) {
        const frame = await reader.readHeader(index, capability.max_file_bytes);
        if (reader.position + frame.size > length)
          throw badRequest(
            `frame ${index} (${frame.sha}) declares ${frame.size} bytes, past the end of the ${length}-byte batch`,
          );
        // Back-pressure: the next file is read only when the fan-out has room for it.
        while (inFlight.size >= BATCH_FANOUT) await Promise.race(inFlight);
        buffered.take(frame.size, owner);
        let file: Uint8Array[];
        let held = frame.size;
        try {
          const kept = holdFrame(await reader.readFile(frame), frame.size);
          if (kept.held > frame.size) buffered.take(kept.held - frame.size, owner);
          held = kept.held;
          file = kept.pieces;
        } catch (error) {
          buffered.release(held, owner);
          throw error;
        }
        bytes += frame.size;
        const task = forward(index, frame.sha, file, frame.size, held).finally(() => inFlight.delete(task));
        inFlight.add(task);
      }
      if (!(await reader.atEnd()))
        throw badRequest(
          `the batch has bytes after its ${declared} declared frames; ${BATCH_FILES_HEADER} must count every frame`,
        );
    } catch (error) {
      await reader.release();
      // Files already forwarded were whole and verified; their outcome settles before the refusal.
      await Promise.allSettled(inFlight);
      throw error;
    }
    await Promise.all(inFlight);
    const failed = results.find((r) => r.status >= 300);
    return {
      response: json(200, { files: results } satisfies BatchResponse),
      upstreamStatus: failed?.status ?? 200,
      bytes,
      files: declared,
    };
  }

  async function createDeployment(
    request: Request,
    route: MatchedRoute,
    claims: CredentialClaims,
    project: CompiledProject,
    upstream: Upstream,
  ) {
    const { limits } = deps.config;
    const release = await inflightCreates.acquire(budgetOwner(claims), limits.max_inflight_creates);
    // Bytes held while the body is parsed and forwarded: the declared length, or the cap when unknown.
    const declared = Number(request.headers.get('content-length') ?? NaN);
    const held =
      Number.isSafeInteger(declared) && declared >= 0
        ? Math.min(declared, limits.max_body_bytes)
        : limits.max_body_bytes;
    const owner = budgetOwner(claims);
    try {
      buffered.take(held, owner);
    } catch (error) {
      release();
      throw error;
    }
    try {
      return await createChecked(request, route, claims, project, upstream);
    } finally {
      buffered.release(held, owner);
      release();
    }
  }

  async function createChecked(
    request: Request,
    route: MatchedRoute,
    claims: CredentialClaims,
    project: CompiledProject,
    upstream: Upstream,
  ) {
    const text = await readLimitedText(request, deps.config.limits.max_body_bytes);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw badRequest('the deployment body must be JSON');
    }
    const checked = checkCreateBody(raw, {
      claims,
      projectName: await vercelName(project, upstream),
      allowProjectSettings: project.allowProjectSettings,
      maxFiles: deps.config.limits.max_files,
      serverUrl: deps.serverUrl,
    });
    // Idempotency: a create repeated with the same credential and body (a client retry after a
    // timeout or reset) answers with the deployment the first attempt made, never a second one.
    const digest = toHex(
      new Uint8Array(
        await crypto.subtle.digest(
          'SHA-256',
          new TextEncoder().encode(`${route.query}\n${JSON.stringify(checked.body)}`),
        ),
      ),
    );
    const key = storeKeys.createRecord(claims.cid, digest);
    const ttl = Math.max(60_000, claims.exp - deps.now() + 60_000);
    const previous = await deps.store.get(key);
    if (previous) return json(200, JSON.parse(previous));
    if (!(await acquire(storeKeys.createLock(key)))) {
      const settled = await waitForRecord(key);
      if (settled) return json(200, JSON.parse(settled));
      throw new BrokerError(
        503,
        'unavailable',
        'The same deployment is being created by another request; retry.',
        { 'retry-after': '2' },
      );
    }
    // Held until this attempt settles, whichever way it ends: a retry then finds a record or may try again.
    try {
      // An earlier attempt ended without knowing whether Vercel created it: look before creating.
      // That attempt's quota unit is still held, so a retry of the same body takes no other.
      const ambiguous = await deps.store.get(storeKeys.createAmbiguous(key));
      if (ambiguous) {
        const found = await findCreated(project, upstream, digest);
        if (found) return await remember(key, found, ttl);
      }
      // The quota is taken before forwarding, atomically and in the shared store: concurrent
      // creates (on any instance) can never pass it; a create Vercel definitively refused gives it back.
      // Counted per job like the other quotas: several credentials of one job share one budget.
      const quotaKey = storeKeys.deployments(budgetOwner(claims));
      const max = deps.config.limits.max_deployments;
      // Kept for the job's window like the upload budgets, not one credential's life: a job that
      // exchanges again later must not find its count reset.
      if (!ambiguous && (await deps.store.take(quotaKey, 1, max, JOB_WINDOW_MS)) === undefined) {
        throw new BrokerError(
          429,
          'quota_exceeded',
          `this credential has created ${max} deployments, its limit`,
        );
      }
      (checked.body.meta as Record<string, string>).keyholeCreateKey = digest;
      const upstreamRequest: UpstreamRequest = {
        method: 'POST',
        path: '/v13/deployments',
        query: route.query,
        teamId: project.teamId,
        headers: new Headers({ 'content-type': 'application/json' }),
        body: JSON.stringify(checked.body),
      };
      let response: Response;
      try {
        response = await forwardToVercel(upstream, upstreamRequest);
      } catch (error) {
        // Sent but unanswered: Vercel may have created it. Look before letting the client retry.
        const found = await findCreated(project, upstream, digest);
        if (found) return await remember(key, found, ttl);
        await deps.store.put(storeKeys.createAmbiguous(key), '1', ttl);
        throw error;
      }
      if (!response.ok) {
        const found = response.status >= 500 ? await findCreated(project, upstream, digest) : undefined;
        if (found) {
          await response.body?.cancel();
          return await remember(key, found, ttl);
        }
        if (response.status >= 500) await deps.store.put(storeKeys.createAmbiguous(key), '1', ttl);
        else {
          // Refused for certain: give back the one unit held for this body (this attempt's, or an
          // ambiguous earlier attempt's), and drop the marker so a later retry takes its own again.
          await deps.store.take(quotaKey, -1, max, JOB_WINDOW_MS);
          if (ambiguous) await deps.store.release(storeKeys.createAmbiguous(key));
        }
        return await relayResponse(response);
      }
      const body = (await response.json()) as Record<string, unknown>;
      if (body.projectId !== undefined && body.projectId !== project.projectId) {
        throw new BrokerError(
          502,
          'upstream_error',
          'Vercel created the deployment in an unexpected project.',
        );
      }
      return await remember(key, body, ttl, copyResponseHeaders(response.headers));
    } finally {
      await deps.store.release(storeKeys.createLock(key));
    }
  }

  async function remember(key: string, body: Record<string, unknown>, ttl: number, headers?: Headers) {
    await deps.store.put(key, JSON.stringify(body), ttl);
    return json(200, body, headers);
  }

  async function acquire(lock: string): Promise<boolean> {
    return deps.store.reserve(lock, deps.config.limits.upstream_timeout_seconds * 1000 + 30_000);
  }

  /** Another request holds the create: wait for its record, or take over if it died. */
  async function waitForRecord(key: string): Promise<string | undefined> {
    const deadline = deps.now() + deps.config.limits.upstream_timeout_seconds * 1000;
    while (deps.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const record = await deps.store.get(key);
      if (record) return record;
    }
    return undefined;
  }

  /** Finds the deployment a create with this digest made, by the `keyholeCreateKey` stamped in its meta. */
  async function findCreated(project: CompiledProject, upstream: Upstream, digest: string) {
    try {
      const query = new URLSearchParams({ projectId: project.projectId, limit: '20' });
      const listing = await forwardToVercel(upstream, {
        method: 'GET',
        path: '/v6/deployments',
        query,
        teamId: project.teamId,
      });
      if (!listing.ok) return undefined;
      const { deployments = [] } = (await listing.json()) as {
        deployments?: { uid?: string; meta?: Record<string, string> }[];
      };
      const match = deployments.find((d) => d.meta?.keyholeCreateKey === digest);
      if (!match?.uid) return undefined;
      const owned = await ownedDeployment(match.uid, project, upstream);
      return owned.body;
    } catch {
      return undefined;
    }
  }

  async function getProject(param: string, project: CompiledProject, upstream: Upstream) {
    await checkPinned(param, project, upstream);
    const response = await forwardToVercel(upstream, {
      method: 'GET',
      path: `/v9/projects/${project.projectId}`,
      query: new URLSearchParams(),
      teamId: project.teamId,
    });
    if (!response.ok) return relayResponse(response);
    const body = (await response.json()) as Record<string, unknown>;
    const picked = Object.fromEntries(
      PROJECT_FIELDS.filter((f) => Object.hasOwn(body, f)).map((f) => [f, body[f]]),
    );
    // Where production points, and the last promotion's progress: ids and a state, nothing else.
    const production = (body.targets as { production?: Record<string, unknown> } | null)?.production;
    if (production && typeof production.id === 'string') {
      picked.targets = { production: { id: production.id, url: production.url } };
    }
    const aliasRequest = body.lastAliasRequest as Record<string, unknown> | null | undefined;
    if (aliasRequest && typeof aliasRequest === 'object') {
      picked.lastAliasRequest = Object.fromEntries(
        ALIAS_REQUEST_FIELDS.filter((f) => Object.hasOwn(aliasRequest, f)).map((f) => [f, aliasRequest[f]]),
      );
    }
    return json(200, picked);
  }

  /** Is `param` the pinned project (by id or Vercel name)? Anything else is answered as not found. */
  async function checkPinned(param: string, project: CompiledProject, upstream: Upstream) {
    if (param !== project.projectId && param !== (await vercelName(project, upstream)))
      throw notFound('The project was not found.');
  }

  /**
   * `vercel pull`: only the credential's own target (and branch), only the names the project's
   * `env_pull` lists. Every other variable, its value and even its name stay in the broker.
   */
  async function pullEnv(
    route: MatchedRoute,
    claims: CredentialClaims,
    project: CompiledProject,
    upstream: Upstream,
  ) {
    const [projectParam, target, rawBranch] = route.params as [string, string, string | undefined];
    const call = `GET ${route.path}`;
    if (project.envPull.length === 0) {
      throw forbidden(
        `${call} is not allowed: project ${project.name} lets builds read no variables; its broker admin lists the names in env_pull`,
      );
    }
    if (target !== claims.tgt) {
      throw forbidden(
        `${call} is not allowed: this credential reads the ${claims.tgt} environment only (pull with --environment=${claims.tgt})`,
      );
    }
    let branch: string | undefined;
    if (rawBranch !== undefined) {
      branch = decodeURIComponent(rawBranch);
      const own = claims.ref.startsWith('refs/heads/') ? claims.ref.slice('refs/heads/'.length) : undefined;
      if (branch !== own) {
        throw forbidden(
          `${call} is not allowed: a credential for ${claims.ref} may read branch overrides of ${own ?? 'no branch'} only`,
        );
      }
    }
    await checkPinned(projectParam, project, upstream);
    const query = new URLSearchParams();
    const source = route.query.get('source');
    if (source !== null) query.set('source', source);
    const response = await forwardToVercel(upstream, {
      method: 'GET',
      path: `/v3/env/pull/${project.projectId}/${encodeURIComponent(target)}${branch === undefined ? '' : `/${encodeURIComponent(branch)}`}`,
      query,
      teamId: project.teamId,
    });
    if (!response.ok) return { response: await relayResponse(response), upstreamStatus: response.status };
    const body = (await response.json()) as { env?: unknown; buildEnv?: unknown };
    const pick = (record: unknown): Record<string, string> => {
      if (typeof record !== 'object' || record === null) return {};
      const values = record as Record<string, unknown>;
      return Object.fromEntries(
        project.envPull
          .filter((name) => Object.hasOwn(values, name) && typeof values[name] === 'string')
          .map((name) => [name, values[name] as string]),
      );
    };
    const env = pick(body.env);
    const buildEnv = pick(body.buildEnv);
    return {
      response: json(200, { env, buildEnv }),
      upstreamStatus: response.status,
      audit: { env_names: [...new Set([...Object.keys(env), ...Object.keys(buildEnv)])].sort() },
    };
  }

  /**
   * Points production at a deployment the same commit staged earlier: only with a production
   * credential, only a READY production deployment of the pinned project that Keyhole itself
   * created with `autoAssignCustomDomains: false` (its `keyholeStaged` stamp) from this credential's
   * commit (the `githubCommitSha` Keyhole stamped from verified claims). Never a rebuild.
   */
  async function promote(
    route: MatchedRoute,
    claims: CredentialClaims,
    project: CompiledProject,
    upstream: Upstream,
  ) {
    const [projectParam, deploymentParam] = route.params as [string, string];
    const refuse = (why: string) => forbidden(`POST ${route.path} is not allowed: ${why}`);
    if (claims.tgt !== 'production') {
      throw refuse(`promotion needs a production credential; this one deploys to ${claims.tgt}`);
    }
    // Compared as GitHub compares environment names: case-insensitively.
    const environment = claims.env === undefined ? undefined : foldCase(claims.env);
    if (project.promoteEnvironments && !(environment && project.promoteEnvironments.includes(environment))) {
      throw refuse(
        `project ${project.name} is promoted only from jobs in the GitHub environment ${project.promoteEnvironments.join(' or ')}; this job's environment is ${claims.env ?? 'none'}`,
      );
    }
    await checkPinned(projectParam, project, upstream);
    const owned = await ownedDeployment(deploymentParam, project, upstream);
    if (!owned.body) return { response: owned.response };
    const deployment = owned.body;
    const id = resolvedId(deployment);
    const meta = (deployment.meta ?? {}) as Record<string, unknown>;
    if (deployment.target !== 'production') {
      throw refuse(
        `${id} is not a production deployment; Keyhole promotes only staged production deployments (stage: true), because promoting a preview rebuilds it with production's variables`,
      );
    }
    if (meta.keyholeStaged !== '1' || typeof meta.keyholeCredentialId !== 'string') {
      throw refuse(
        `${id} was not staged through Keyhole; create it with stage: true (vercel deploy --prod --skip-domain)`,
      );
    }
    if (meta.githubCommitSha !== claims.sha) {
      throw refuse(
        `${id} was built from commit ${String(meta.githubCommitSha).slice(0, 12)}, this job runs for ${claims.sha.slice(0, 12)}; promote from the same commit's workflow run`,
      );
    }
    if (deployment.readyState !== 'READY') {
      throw refuse(`${id} is ${String(deployment.readyState)}; only a READY deployment can be promoted`);
    }
    const response = await forwardToVercel(upstream, {
      method: 'POST',
      path: `/v10/projects/${project.projectId}/promote/${id}`,
      query: new URLSearchParams(),
      teamId: project.teamId,
      headers: new Headers({ 'content-type': 'application/json' }),
      body: '{}',
    });
    return {
      response: await relayResponse(response),
      upstreamStatus: response.status,
      audit: { promoted_deployment: id, promoted_sha: claims.sha },
    };
  }

  async function dispatch(
    request: Request,
    route: MatchedRoute,
    claims: CredentialClaims,
    nodeBody?: AsyncIterable<Uint8Array>,
  ): Promise<GatewayResult> {
    if (route.name === 'get-user') {
      return {
        response: json(404, { error: { code: 'not_found', message: 'Keyhole credentials have no user.' } }),
      };
    }
    if (route.name === 'get-team') {
      // `vercel pull` before CLI 64 insists on reading the team and gives up on 403
      // (vercel/vercel#17506): projects that enable env_pull answer with the pinned team's id, nothing more.
      const pinned = deps.config.projects.get(claims.pn);
      if (pinned && pinned.envPull.length > 0 && route.param === pinned.teamId) {
        return { response: json(200, { id: pinned.teamId, slug: pinned.teamId, name: pinned.teamId }) };
      }
      return {
        response: json(403, {
          error: { code: 'team_unauthorized', message: 'Keyhole credentials cannot read teams.' },
        }),
      };
    }
    const { project, upstream } = projectFor(claims);
    switch (route.name) {
      case 'upload-file':
        return uploadFile(request, claims, project, upstream, nodeBody);
      case 'upload-batch':
        return uploadBatch(request, claims, project, upstream, nodeBody);
      case 'create-deployment': {
        const response = await createDeployment(request, route, claims, project, upstream);
        // Who created what: the alias route lets a credential touch only its own deployments.
        await recordCreated(deps.store, response, claims, Math.max(60_000, claims.exp - deps.now() + 60_000));
        return { response };
      }
      case 'assign-alias':
        return assignAlias({
          request,
          deploymentId: route.param!,
          claims,
          project,
          upstream,
          store: deps.store,
          ownedDeployment: (id) => ownedDeployment(id, project, upstream),
        });
      case 'get-deployment': {
        const owned = await ownedDeployment(route.param!, project, upstream, route.query);
        if (!owned.body) return { response: owned.response };
        return {
          response: json(200, owned.body, copyResponseHeaders(owned.response.headers)),
          upstreamStatus: 200,
        };
      }
      case 'deployment-events': {
        // Build logs can carry secrets: ownership is proven before the stream is even requested.
        const owned = await ownedDeployment(route.param!, project, upstream);
        if (!owned.body) return { response: owned.response };
        checkProductionReach(owned.body, claims, `GET ${route.path}`);
        const response = await forwardToVercel(upstream, {
          method: 'GET',
          path: `/v3/deployments/${resolvedId(owned.body)}/events`,
          query: route.query,
          teamId: project.teamId,
        });
        return { response: await relayResponse(response), upstreamStatus: response.status };
      }
      case 'cancel-deployment': {
        const owned = await ownedDeployment(route.param!, project, upstream);
        if (!owned.body) return { response: owned.response };
        checkProductionReach(owned.body, claims, `PATCH ${route.path}`);
        const response = await forwardToVercel(upstream, {
          method: 'PATCH',
          path: `/v12/deployments/${resolvedId(owned.body)}/cancel`,
          query: new URLSearchParams(),
          teamId: project.teamId,
        });
        return { response: await relayResponse(response), upstreamStatus: response.status };
      }
      case 'get-project':
        return { response: await getProject(route.param!, project, upstream) };
      case 'env-pull':
        return pullEnv(route, claims, project, upstream);
      case 'promote':
        return promote(route, claims, project, upstream);
    }
  }

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
    try {
      const result = await dispatch(request, route, claims, nodeBody);
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

/**
 * Whose budget a call spends: the job's, per project, so the several credentials a job may hold for
 * one project share it (and deploying two projects does not). Credentials minted before jobs were
 * recorded fall back to their own id.
 */
function budgetOwner(claims: CredentialClaims): string {
  return claims.job ? `${claims.pn}:${claims.job}` : claims.cid;
}

/**
 * Production is the pinned project's most guarded target (environment protection gates its
 * credentials): a preview credential, which any branch may obtain, must not cancel a production
 * deployment in flight nor read its build log, where production-only values may be printed.
 */
function checkProductionReach(body: Record<string, unknown>, claims: CredentialClaims, call: string): void {
  if (body.target === 'production' && claims.tgt !== 'production')
    throw forbidden(
      `${call} is not allowed: it is a production deployment, and this credential deploys to ${claims.tgt}`,
    );
}

/** The path of a request target (origin-form or absolute-form), as a DPoP proof's `htu` names it. */
function pathOf(rawTarget: string): string {
  if (rawTarget.startsWith('/')) return rawTarget.replace(/[?#].*$/s, '');
  try {
    return new URL(rawTarget).pathname;
  } catch {
    return rawTarget;
  }
}

/**
 * The `dpl_` id from the ownership answer: a follow-up call must act on the deployment whose
 * ownership was checked, never resolve the client's id (a hostname, an alias that may move) again.
 */
function resolvedId(body: Record<string, unknown>): string {
  const id = body.id ?? body.uid;
  if (typeof id !== 'string' || !/^dpl_[A-Za-z0-9]+$/.test(id))
    throw new BrokerError(502, 'upstream_error', 'Vercel answered a deployment without its dpl_ id.');
  return id;
}

/** Waits for the first chunk of a body, then passes it and the rest through. */
async function startOfBody(source: AsyncIterable<Uint8Array>): Promise<AsyncIterable<Uint8Array>> {
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next().catch(() => {
    throw badRequest('the client stopped before sending the upload body');
  });
  return {
    async *[Symbol.asyncIterator]() {
      if (first.done) return;
      let finished = false;
      try {
        yield first.value;
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
        finished = true;
      } finally {
        // Stopped early (a body longer than declared): close the source as for-await would.
        if (!finished) await iterator.return?.();
      }
    },
  };
}

/**
 * Passes exactly `size` bytes through, or fails with the client's error (also handed to `onMismatch`):
 * a body longer or shorter than declared never becomes a stored file.
 */
async function* exactly(
  source: AsyncIterable<Uint8Array>,
  size: number,
  onMismatch: (error: BrokerError) => void,
): AsyncGenerator<Uint8Array> {
  const mismatch = (seen: string) => {
    const error = badRequest(
      `the upload body has ${seen} bytes, but Content-Length or x-now-size says ${size}; send the size of the file`,
    );
    onMismatch(error);
    return error;
  };
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.byteLength;
    if (seen > size) throw mismatch(`more than ${size}`);
    yield chunk;
  }
  if (seen !== size) throw mismatch(String(seen));
}
