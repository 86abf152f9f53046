/** The shapes of the Vercel fake: what it stores, what it records, the faults it injects, its options. */
export interface FakeProject {
  id: string;
  name: string;
  teamId: string;
  framework?: string | null;
  /** The project's domains (production and branch domains; `*.x` a wildcard), as GET /v9/projects/:id/domains lists them. */
  domains?: string[];
  rootDirectory?: string | null;
  /** Vercel custom environments (Pro/Enterprise): a deploy names one by slug or id in `customEnvironmentSlugOrId`. */
  customEnvironments?: FakeCustomEnvironment[];
}

export interface FakeCustomEnvironment {
  /** `env_…`, as Vercel's ids are. */
  id: string;
  slug: string;
}

/**
 * A project environment variable as the fake stores it. `vercel env pull` answers plain and encrypted
 * values decrypted; sensitive ones are write-only and come back as empty strings (docs/pull-and-promote.md, "What the strict fake does").
 */
export interface FakeEnvVar {
  projectId: string;
  key: string;
  value: string;
  type: 'plain' | 'encrypted' | 'sensitive';
  /** production | preview | development | a custom environment's slug (Vercel's customEnvironmentIds, by slug) */
  target: string[];
  /** A preview variable that applies to one branch only. */
  gitBranch?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  bytes: number;
  json?: unknown;
}

/** `reset-after`: the request is processed, then the connection drops without an answer (ambiguous). */
/** `403`: Vercel's answer for a resource of a team the token may not see. */
export type FaultKind = 403 | 429 | 500 | 502 | 503 | 'reset' | 'reset-after' | 'slow';

export interface Fault {
  kind: FaultKind;
  method?: string;
  /** Matches the request path (string = prefix). */
  path?: string | RegExp;
  /** How many matching requests it hits; default 1. */
  times?: number;
  retryAfterSeconds?: number;
  delayMs?: number;
}

export interface FakeDeployment {
  id: string;
  url: string;
  name: string;
  projectId: string;
  teamId: string;
  target: string | null;
  customEnvironment?: FakeCustomEnvironment;
  createdAt: number;
  canceled: boolean;
  fails: boolean;
  /** Why the build fails, when it is not the generic build error (a Root Directory with nothing in it). */
  failure?: string;
  /** Lines the build prints (the deployment's BUILD_OUTPUT file), streamed as build events. */
  output?: string[];
  prebuilt: boolean;
  /** A production deployment created with `autoAssignCustomDomains: false`: built, but not serving production. */
  staged: boolean;
  body: Record<string, unknown>;
  /** An archive deployment: its parts, and the entries it unpacked to (when the fake kept the bytes). */
  archive?: { parts: number; entries?: number };
  files: { file: string; sha?: string; size?: number; mode?: number; data?: string }[];
}

export interface VercelFakeOptions {
  tokens?: string[];
  teams?: { id: string; slug: string }[];
  projects?: FakeProject[];
  /** The team's domains (apexes, GET /v5/domains); default acme.dev. */
  domains?: string[];
  /** Time a deployment spends QUEUED and then BUILDING; identical for every client measured. */
  queueMs?: number;
  buildMs?: number;
  /** Probability of a random 5xx/429/reset on any request (seeded, deterministic). */
  faultRate?: number;
  seed?: number;
  /** Keep uploaded contents up to this size (tests read them back); larger blobs keep only size. */
  keepBytes?: number;
  /** The projects' environment variables (default: a few for prj_marketing, secrets among them). */
  env?: FakeEnvVar[];
  /** How long a promotion stays in progress before production points at the deployment. */
  promoteMs?: number;
  /**
   * The `url` every deployment reports, e.g. `127.0.0.1:<port>` of a test's server that plays the
   * deployed site (check-path); default `<project>-<id>-acme.vercel.app`, which resolves nowhere.
   */
  deploymentHost?: string;
}

export interface VercelFake {
  url: string;
  requests: RecordedRequest[];
  deployments: Map<string, FakeDeployment>;
  blobs: Map<string, { size: number; data?: Buffer }>;
  /** Assigned aliases: host name → deployment id. */
  aliases: Map<string, string>;
  env: FakeEnvVar[];
  /** Runtime-log streams (`vercel logs --follow`) the fake is writing right now. */
  openLogStreams(): number;
  /** The deployment production currently points at, per project id. */
  productionOf(projectId: string): string | undefined;
  /** The tokens Vercel accepts now: add one (created in the dashboard) or delete one (revoked). */
  tokens: Set<string>;
  inject(fault: Fault): void;
  setFaultRate(rate: number): void;
  /**
   * Random faults by kind, each with its own probability per request (seeded), on every route:
   * `{ 429: 0.1, reset: 0.01, 'reset-after': 0.01 }` is a busy team's rate limits plus a flaky
   * network. 429s carry `retryAfterSeconds`. Replaces `setFaultRate`'s uniform mix while set.
   */
  setFaultMix(mix: Partial<Record<FaultKind, number>> | undefined, retryAfterSeconds?: number): void;
  clearRecord(): void;
  close(): Promise<void>;
}
