/**
 * What a gateway handler works with: the gateway's own view of the config, its dependencies, the
 * state one instance keeps across calls, and the one context object each call hands its handler.
 */
import type { AuditEvent, Logger } from '../audit.js';
import type { CredentialClaims, SigningKeys } from '../credential/credential.js';
import type { Revocations } from '../credential/revocation.js';
import { BrokerError, invalidCredential } from '../errors.js';
import type { JobStatusChecker } from '../github/job-status.js';
import { ByteBudget } from '../limits/byte-budget.js';
import { HeldLimit, InflightLimit } from '../limits/inflight.js';
import type { ReplayStore } from '../store/store.js';
import type { Upstream, UpstreamFetch } from './forward.js';
import type { MatchedRoute } from './routes.js';

const USER_AGENT = 'keyhole-broker/0.1';

/**
 * The limits the gateway enforces. Declared here, not imported from policy/: the gateway serves a
 * credential already granted, so it depends only on the fields it reads (the compiled config has them).
 */
export interface GatewayLimits {
  readonly max_body_bytes: number;
  readonly max_buffered_body_bytes: number;
  readonly max_file_bytes: number;
  readonly max_files: number;
  readonly max_upload_bytes: number;
  readonly max_deployments: number;
  readonly max_inflight_uploads: number;
  readonly max_inflight_creates: number;
  readonly max_inflight_uploads_per_repository: number;
  readonly max_inflight_uploads_per_owner: number;
  readonly max_inflight_creates_per_repository: number;
  readonly max_inflight_creates_per_owner: number;
  /** Unset: a fraction of max_buffered_body_bytes (fair-share.ts, byteShares). */
  readonly max_buffered_body_bytes_per_repository?: number | undefined;
  readonly max_buffered_body_bytes_per_owner?: number | undefined;
  readonly upstream_timeout_seconds: number;
}

/** One project as the gateway reads it: the pin, its upstream token's name and what calls it allows. */
export interface GatewayProject {
  readonly name: string;
  readonly teamId: string;
  readonly projectId: string;
  readonly tokenEnv: string;
  readonly allowProjectSettings: boolean;
  /** An alias a preview credential may assign must match one of these. */
  readonly previewAliases: readonly {
    readonly pattern: string;
    readonly match: (alias: string) => boolean;
  }[];
  /** Vercel custom environments (slug or env_… id) the project deploys to: each its own target. */
  readonly customEnvironments: readonly string[];
  /** The alias patterns of each custom environment's credentials (`custom_environment_aliases`). */
  readonly customEnvironmentAliases: ReadonlyMap<
    string,
    readonly { readonly pattern: string; readonly match: (alias: string) => boolean }[]
  >;
  /** `vercel logs` may read runtime logs of the credential's own target. */
  readonly runtimeLogs: boolean;
  /** Environment variable names `vercel pull` may read (exact, case-sensitive). */
  readonly envPull: readonly string[];
  readonly requireDpop: boolean;
  /** Lower-case GitHub environment names whose credentials may promote; undefined: any production credential. */
  readonly promoteEnvironments?: readonly string[];
  /** A preview credential may delete its own branch's stamped previews and their aliases. */
  readonly cleanupPreviews: boolean;
  /** Lower-case GitHub environment names whose production credentials may roll back; undefined: none may. */
  readonly rollbackEnvironments?: readonly string[];
  /** When set, the only variable names `env` and `build.env` of a create may carry. */
  readonly buildEnvNames?: readonly string[];
  /** Handed to the job-status check: what to do when GitHub cannot say whether the job still runs. */
  readonly githubUnreachable: { readonly calls: 'fail_closed' | 'grace'; readonly grace_seconds: number };
}

/** The config as the gateway reads it, re-read on every call (a removed project stops at once). */
export interface GatewayConfig {
  /** The broker's URL as clients address it: DPoP proofs name it in `htu`. */
  readonly publicUrl?: string;
  readonly vercelApiUrl: string;
  readonly limits: GatewayLimits;
  readonly projects: ReadonlyMap<string, GatewayProject>;
}

export interface GatewayDeps {
  config: GatewayConfig;
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

export interface GatewayResult {
  response: Response;
  route?: string;
  claims?: CredentialClaims;
  upstreamStatus?: number;
  bytes?: number;
  /** Extra audit fields: which variable names an env pull handed out, which deployment was promoted. */
  audit?: Pick<
    AuditEvent,
    | 'env_names'
    | 'promoted_deployment'
    | 'promoted_sha'
    | 'deleted_deployment'
    | 'deleted_alias'
    | 'rolled_back_from'
    | 'rolled_back_to'
  >;
  /** Files a batch carried. */
  files?: number;
}

/** The digests this instance has counted for a job (the counts themselves are in the store). */
export interface Usage {
  files: Set<string>;
  expires: number;
}

/** What one gateway instance keeps across calls; shared limits and counts live in the store. */
export interface GatewayState {
  usage: Map<string, Usage>;
  /** Vercel's name of each pinned project, by id, with when it was read. */
  names: Map<string, { name: string; at: number }>;
  inflightUploads: InflightLimit;
  inflightCreates: InflightLimit;
  inflightBatches: InflightLimit;
  /** Upload (and batch) and create calls held per repository and per owner (fair-share.ts). */
  heldUploads: HeldLimit;
  heldCreates: HeldLimit;
  buffered: ByteBudget;
}

export function createGatewayState(config: GatewayConfig): GatewayState {
  return {
    usage: new Map(),
    names: new Map(),
    inflightUploads: new InflightLimit('uploads'),
    inflightCreates: new InflightLimit('deployment creates'),
    // A batch buffers its frames in the budget every project shares: one credential gets the share of
    // as many batches as its upload slots can forward at once (4 by default, the action's own
    // concurrency), so stalled batches cannot take the bytes another project's create needs.
    inflightBatches: new InflightLimit('batched uploads'),
    heldUploads: new HeldLimit(),
    heldCreates: new HeldLimit(),
    // Each call also names its job's, repository's and owner's shares (fair-share.ts, bufferedShares).
    buffered: new ByteBudget(() => config.limits.max_buffered_body_bytes),
  };
}

/** One authenticated call: what the gateway holds, and what this call brought. */
export interface CallContext {
  readonly config: GatewayConfig;
  readonly store: ReplayStore;
  /** The broker's signing keys: the stamp of every create is a MAC under the first (stamp.ts). */
  readonly keys: SigningKeys;
  readonly now: () => number;
  readonly serverUrl: string;
  readonly sha1Hex: ((pieces: readonly Uint8Array[]) => string) | undefined;
  readonly state: GatewayState;
  readonly request: Request;
  readonly route: MatchedRoute;
  readonly claims: CredentialClaims;
  /** The Node adapter's own body stream, when it hands one over. */
  readonly nodeBody: AsyncIterable<Uint8Array> | undefined;
}

/** A call on the credential's pinned project, with the upstream that serves it. */
export interface ProjectContext extends CallContext {
  readonly project: GatewayProject;
  readonly upstream: Upstream;
}

export type Handler = (ctx: CallContext) => Promise<GatewayResult>;

/** The credential's project and an upstream for it, or 401/503 when the broker no longer serves it. */
export function pinProject(
  deps: Pick<GatewayDeps, 'config' | 'upstreamToken' | 'fetch' | 'fetchFor'>,
  claims: CredentialClaims,
): { project: GatewayProject; upstream: Upstream } {
  const project = deps.config.projects.get(claims.pn);
  // Policy is re-read on every call: a project removed from the config stops working at once.
  if (!project || project.projectId !== claims.prj || project.teamId !== claims.team) {
    throw invalidCredential('The credential names a project this broker no longer serves.');
  }
  // A target the config no longer names (a custom environment removed from custom_environments) stops too.
  if (
    claims.tgt !== 'preview' &&
    claims.tgt !== 'production' &&
    !project.customEnvironments.includes(claims.tgt)
  ) {
    throw invalidCredential(
      `The credential names a target (${claims.tgt}) this broker no longer serves for the project.`,
    );
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

/** A JSON answer of the gateway's own. */
export const answerJson = (status: number, body: unknown, headers?: HeadersInit) =>
  new Response(JSON.stringify(body), {
    status,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      ...Object.fromEntries(new Headers(headers)),
    },
  });
