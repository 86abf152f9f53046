/** The config file's schema: every object strict, every value checked, defaults spelled out once. */
import { z } from 'zod';
import { isHttpsOrLoopback, TARGET_PATTERN } from '../../shared/wire.js';
import { GITHUB_ISSUER } from '../oidc/claims.js';
import { checkAliasPattern } from './alias-patterns.js';
import { parseCidr } from './cidr.js';

const numericId = (what: string) =>
  z
    .string({ error: `${what} must be a quoted numeric string, e.g. "123456789"` })
    .regex(/^[0-9]+$/, `${what} must contain digits only, e.g. "123456789" (GitHub's immutable id)`);

const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name such as VERCEL_TOKEN_SITE');

/** Glob patterns: plain characters plus `*` (one segment) and `**` (any number of segments). */
const pattern = z
  .string()
  .min(1)
  .max(512)
  .regex(
    /^[A-Za-z0-9._/@*+=:-]+$/,
    'patterns use plain characters plus * (one segment) and ** (any segments); no ?, [], {}, ! or regular expressions',
  )
  .refine((value) => !/\*\*\*/.test(value), 'use at most two stars in a row (** = any segments)');

export const targetName = z
  .string()
  .regex(
    TARGET_PATTERN,
    'must be preview, production or a custom environment: its slug (lower-case letters, digits, -) or its id (env_…)',
  );

/** A Vercel custom environment a project deploys to, by slug or `env_…` id; Vercel's own three are not. */
const customEnvironment = z
  .string()
  .regex(
    TARGET_PATTERN,
    'must be a custom environment slug (lower-case letters, digits, -) or its id (env_…), as Vercel shows it',
  )
  .refine(
    (name) => !['preview', 'production', 'development'].includes(name),
    "is one of Vercel's own environments; list only custom environments here",
  );

const aliasPattern = z.string().superRefine((pattern, ctx) => {
  const problem = checkAliasPattern(pattern);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Cross-field rules (production needs environments, full refs, risky events preview-only…) live in lint.ts. */
export const ruleSchema = z.strictObject({
  repository: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'must be owner/name, e.g. acme/marketing'),
  repository_id: numericId('repository_id').optional(),
  repository_owner_id: numericId('repository_owner_id').optional(),
  targets: z.array(targetName).min(1, 'name at least one target, e.g. [preview]'),
  environments: z.array(z.string().min(1).max(255)).min(1).optional(),
  refs: z.array(pattern).min(1).optional(),
  workflows: z.array(pattern).min(1).optional(),
  events: z
    .array(z.string().regex(/^[a-z_]+$/, 'must be a GitHub event name such as push'))
    .min(1)
    .optional(),
  self_hosted_runners: z.boolean().default(false),
});

export const projectSchema = z.strictObject({
  team_id: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be the Vercel team id, e.g. team_abc123'),
  project_id: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be the Vercel project id, e.g. prj_abc123'),
  token_env: envName,
  allow_project_settings: z.boolean().default(false),
  /** Alias patterns a preview deploy of this project may claim (docs/previews.md). */
  preview_aliases: z.array(aliasPattern).default([]),
  /** Vercel custom environments (slug or env_… id) this project's rules may name as targets (docs/custom-environments.md). */
  custom_environments: z
    .array(customEnvironment)
    .max(50)
    .refine((names) => new Set(names).size === names.length, 'lists an environment twice')
    .default([]),
  /** Alias patterns a credential of each custom environment may assign, like preview_aliases for previews. */
  custom_environment_aliases: z.record(z.string(), z.array(aliasPattern).min(1)).default({}),
  /** true: `vercel logs` may read runtime logs (an app's output can hold its users' data) of the credential's own target. */
  runtime_logs: z.boolean().default(false),
  /** Names `vercel pull` may read for the credential's own target; empty: env pull is refused. */
  env_pull: z
    .array(envName)
    .max(200)
    .refine((names) => new Set(names).size === names.length, 'lists a name twice')
    .default([]),
  max_credentials_per_job: z
    .number()
    .int()
    .min(1, 'must be at least 1; remove the project to stop its deploys')
    .max(100)
    .default(1),
  require_dpop: z.boolean().default(false),
  github_unreachable: z
    .strictObject({
      exchange: z.enum(['fail_closed', 'grace']).default('fail_closed'),
      calls: z.enum(['fail_closed', 'grace']).default('grace'),
      grace_seconds: z.number().int().min(0).max(3600).default(300),
    })
    .default({ exchange: 'fail_closed', calls: 'grace', grace_seconds: 300 }),
  /**
   * When set, the only names the `env` and `build.env` of a create may carry (the action's env and
   * build-env inputs, `vercel deploy --env/--build-env`); unset: any name. `@secret` values stay refused.
   */
  build_env_names: z
    .array(envName)
    .max(200)
    .refine((names) => new Set(names).size === names.length, 'lists a name twice')
    .optional(),
  /** GitHub environments whose jobs may promote; unset: any production credential (docs/pull-and-promote.md). */
  promote_environments: z.array(z.string().min(1).max(255)).min(1).optional(),
  /** A preview credential may delete its own branch's stamped previews and their aliases (docs/previews.md). */
  cleanup_previews: z.boolean().default(false),
  /** GitHub environments whose production credentials may roll back; unset: nobody may (docs/rollback.md). */
  rollback_environments: z.array(z.string().min(1).max(255)).min(1).optional(),
  allow: z.array(ruleSchema).min(1, 'add at least one rule; a project without rules can never be deployed'),
});

export const limitsSchema = z.strictObject({
  max_upload_bytes: z
    .number()
    .int()
    .positive()
    .default(2 * 1024 ** 3),
  max_file_bytes: z
    .number()
    .int()
    .positive()
    .default(1024 ** 3 + 1024 ** 2),
  max_files: z.number().int().positive().default(20_000),
  max_deployments: z.number().int().positive().default(5),
  // A create body lists every file: ~100 bytes each, so a 20,000-file manifest is ~2 MB.
  max_body_bytes: z
    .number()
    .int()
    .positive()
    .default(8 * 1024 ** 2),
  upstream_timeout_seconds: z.number().int().positive().max(600).default(60),
  // Availability (docs/threat-model.md, "Availability"): no outsider and no single credential
  // may hold what every other deploy needs.
  replay_store_max_entries: z.number().int().positive().default(100_000),
  exchange_rate_per_owner: z.number().int().positive().default(600),
  max_inflight_uploads: z.number().int().positive().default(32),
  max_inflight_creates: z.number().int().positive().default(2),
  // Per repository and per owner (docs/operations.md, "Fair shares"): calls held in flight or waiting.
  max_inflight_uploads_per_repository: z.number().int().positive().default(96),
  max_inflight_uploads_per_owner: z.number().int().positive().default(128),
  max_inflight_creates_per_repository: z.number().int().positive().default(8),
  max_inflight_creates_per_owner: z.number().int().positive().default(16),
  max_buffered_body_bytes: z
    .number()
    .int()
    .positive()
    .default(64 * 1024 ** 2),
  // Unset: an eighth and a quarter of max_buffered_body_bytes, at least max_body_bytes.
  max_buffered_body_bytes_per_repository: z.number().int().positive().optional(),
  max_buffered_body_bytes_per_owner: z.number().int().positive().optional(),
  upstream_sockets_per_project: z.number().int().positive().default(64),
  header_timeout_seconds: z.number().int().positive().max(600).default(5),
  body_timeout_seconds: z.number().int().positive().max(600).default(5),
  min_body_bytes_per_second: z
    .number()
    .int()
    .nonnegative()
    .default(16 * 1024),
  max_connections: z.number().int().positive().default(512),
  max_connections_per_client: z.number().int().positive().default(128),
});

/** https only, except on loopback hosts (tests and the demo). */
const url = z
  .string()
  .url('must be an absolute URL, e.g. https://keyhole.example.com')
  .refine(
    // zod runs this check even when .url() failed: a value that is no URL is already reported.
    (value) => !URL.canParse(value) || isHttpsOrLoopback(new URL(value)),
    'must use https:// (plain http is accepted only on loopback hosts)',
  );

export const githubAppSchema = z.strictObject({
  app_id: numericId('app_id'),
  private_key_env: envName,
  api_url: url.default('https://api.github.com'),
  check_cache_seconds: z
    .number()
    .int()
    .min(0)
    .max(30, 'at most 30: a job that ended must stop its credentials within 30 s')
    .default(30),
  /**
   * GitHub requests (job checks) one repository may cause a minute, counted across instances in the
   * store; past it, that repository's exchanges and unconfirmed calls answer 503 without a request,
   * so no repository spends the installation's rate limit for the others.
   */
  max_requests_per_repository_per_minute: z.number().int().min(1).max(5000).default(60),
});

export const configSchema = z.strictObject({
  audience: z.string().min(1).max(512),
  public_url: url.optional(),
  issuer: url.default(GITHUB_ISSUER),
  jwks_url: url.optional(),
  vercel_api_url: url.default('https://api.vercel.com'),
  credential_ttl_seconds: z.number().int().min(1).max(3600).default(900),
  signing_key_env: envName.default('KEYHOLE_SIGNING_KEY'),
  replay_store: z
    .string()
    .regex(
      /^(memory|rediss?(\+cluster|\+sentinel)?:\/\/.+)$/,
      'must be memory or redis://host:port (rediss:// for TLS; redis+cluster://host1:port1,host2:port2 for a Redis Cluster; redis+sentinel://host1:26379,host2:26379/mymaster for Sentinel); a URL with a password belongs in replay_store_env',
    )
    .default('memory'),
  /** Names the env var holding the Redis URL, so its password stays out of the file. */
  replay_store_env: envName.optional(),
  /** Names the env var holding the bearer token `GET /metrics` requires; unset: no /metrics (404). */
  metrics_token_env: envName.optional(),
  limits: limitsSchema.default(() => limitsSchema.parse({})),
  github_app: githubAppSchema.optional(),
  /** Behind a reverse proxy: X-Forwarded-For names the client, from the peers in trusted_proxies only. */
  trust_proxy: z.boolean().default(false),
  /** The reverse proxies' addresses (CIDRs): only their X-Forwarded-For is read (docs/operations.md, "Behind a reverse proxy"). */
  trusted_proxies: z
    .array(
      z
        .string()
        .refine(
          (value) => parseCidr(value) !== undefined,
          'must be an IPv4 or IPv6 address or CIDR, e.g. "10.0.0.0/8", "192.0.2.10" or "fd00::/8" (prefix at most 32 for IPv4, 128 for IPv6)',
        ),
    )
    .min(1, 'list at least one proxy address or CIDR, e.g. ["10.0.0.0/8"]')
    .optional(),
  /**
   * SIGTERM: /readyz answers 503 at once, in-flight requests finish for up to this long, then the
   * process exits 0. Under Kubernetes' default terminationGracePeriodSeconds (30).
   */
  shutdown_grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(
      3600,
      "at most 3600: keep it under the platform's kill timeout (Kubernetes: terminationGracePeriodSeconds)",
    )
    .default(25),
  projects: z.record(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'project names use letters, digits, . _ -'),
    projectSchema,
  ),
});

export type ConfigFile = z.infer<typeof configSchema>;
export type RuleFile = z.infer<typeof ruleSchema>;
export type ProjectFile = z.infer<typeof projectSchema>;
export type Limits = z.infer<typeof limitsSchema>;
export type GitHubAppFile = z.infer<typeof githubAppSchema>;

/** Every key the file may hold, for "did you mean" suggestions on unknown keys. */
export const KNOWN_KEYS = {
  top: Object.keys(configSchema.shape),
  project: Object.keys(projectSchema.shape),
  rule: Object.keys(ruleSchema.shape),
  limits: Object.keys(limitsSchema.shape),
  github_app: Object.keys(githubAppSchema.shape),
};
