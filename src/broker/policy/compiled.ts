/**
 * The compiled configuration: the frozen value every part of the broker reads. It lives outside
 * policy/ so the gateway, the exchange and the app can hold the config without depending on the
 * policy module; policy/compile.ts fills in each project's rules.
 */
import type { GitHubAppFile, Limits, ProjectFile } from './schema.js';

export type Matcher = (value: string) => boolean;

export interface CompiledRule {
  index: number;
  repository: string; // lower-case, for comparison
  repositoryDisplay: string;
  repositoryId?: string;
  repositoryOwnerId?: string;
  targets: readonly string[];
  environments?: readonly string[]; // lower-case
  refs?: readonly { pattern: string; match: Matcher }[];
  workflows?: readonly { pattern: string; match: Matcher }[];
  events?: readonly string[];
  /** True when a `refs` pattern names tags or pull refs; otherwise only branches may deploy. */
  allowsNonBranchRefs: boolean;
  selfHostedRunners: boolean;
}

export interface CompiledProject {
  name: string;
  teamId: string;
  projectId: string;
  tokenEnv: string;
  allowProjectSettings: boolean;
  /** `preview_aliases`, compiled: an alias a preview credential may assign must match one. */
  previewAliases: readonly { pattern: string; match: Matcher }[];
  /** Vercel custom environments (slug or env_… id) the project's rules may name; their own targets. */
  customEnvironments: readonly string[];
  /** `custom_environment_aliases`, compiled: the alias patterns of each custom environment's credentials. */
  customEnvironmentAliases: ReadonlyMap<string, readonly { pattern: string; match: Matcher }[]>;
  /** `runtime_logs`: `vercel logs` may read the runtime logs of the credential's own target. */
  runtimeLogs: boolean;
  /** Environment variable names the gateway lets `vercel pull` read (exact, case-sensitive). */
  envPull: readonly string[];
  /** Credentials one job may obtain for this project (retries of one exchange count once). */
  maxCredentialsPerJob: number;
  /** Credentials are bound to a key (RFC 9449 DPoP); the official CLI cannot use them. */
  requireDpop: boolean;
  /** What to do when the github_app cannot tell whether the job is still running. */
  githubUnreachable: Readonly<ProjectFile['github_unreachable']>;
  /** Lower-case GitHub environment names whose credentials may promote; undefined: any production credential. */
  promoteEnvironments?: readonly string[];
  /** A preview credential may delete its own branch's stamped previews and their aliases. */
  cleanupPreviews: boolean;
  /** Lower-case GitHub environment names whose production credentials may roll back; undefined: none may. */
  rollbackEnvironments?: readonly string[];
  /** When set, the only variable names `env` and `build.env` of a create may carry (exact, case-sensitive). */
  buildEnvNames?: readonly string[];
  rules: readonly CompiledRule[];
}

export interface CompiledConfig {
  audience: string;
  /**
   * The broker's URL as clients address it (public_url, else the audience when it is a URL):
   * DPoP proofs name it in `htu`, never the Host header a proxy may have rewritten or an attacker chosen.
   */
  publicUrl?: string;
  githubApp?: Readonly<GitHubAppFile>;
  issuer: string;
  jwksUrl: string;
  vercelApiUrl: string;
  credentialTtlSeconds: number;
  signingKeyEnv: string;
  replayStore: string;
  /** The env var holding the Redis URL (`replay_store_env`); when set, it wins over `replayStore`. */
  replayStoreEnv?: string;
  /** The env var holding the bearer token of `GET /metrics`; unset, there is no /metrics. */
  metricsTokenEnv?: string;
  limits: Limits;
  /** Count clients by X-Forwarded-For from the trusted proxies (a reverse proxy in front). */
  trustProxy: boolean;
  /** The peers (CIDRs) whose X-Forwarded-For counts; required with trustProxy. */
  trustedProxies?: readonly string[];
  /** SIGTERM's drain: how long in-flight requests may take before the process exits anyway. */
  shutdownGraceSeconds: number;
  projects: ReadonlyMap<string, CompiledProject>;
}
