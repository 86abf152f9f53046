/** Reads the broker's YAML config strictly and returns the compiled configuration, or every error with its fix. */
import { aliasPatternsOverlap, compileAliasPattern } from './alias-patterns.js';
import type { CompiledConfig, CompiledProject } from './compiled.js';
import { GITHUB_ISSUER, GITHUB_JWKS_URL } from '../oidc/claims.js';
import { foldCase } from '../fold-case.js';
import { isHttpsOrLoopback } from '../../shared/wire.js';
import { compileRules } from './compile.js';
import { lintPolicy } from './lint.js';
import { configSchema, KNOWN_KEYS, type ConfigFile } from './schema.js';
import {
  byLine,
  ConfigError,
  describeIssue,
  formatPath,
  readYaml,
  type ConfigIssue,
  type Finding,
} from './yaml-file.js';

export interface LoadedConfig {
  config: CompiledConfig;
  warnings: ConfigIssue[];
}

export interface ParseOptions {
  /** The environment the broker will run with: projects whose `token_env` is unset there are warned about. */
  env?: Readonly<Record<string, string | undefined>>;
}

function knownKeysAt(path: readonly PropertyKey[]): string[] {
  if (path.length === 0) return KNOWN_KEYS.top;
  if (path[0] === 'limits') return KNOWN_KEYS.limits;
  if (path[0] === 'github_app') return KNOWN_KEYS.github_app;
  if (path[0] === 'projects' && path.length === 2) return KNOWN_KEYS.project;
  if (path[0] === 'projects' && path[2] === 'allow') return KNOWN_KEYS.rule;
  return [];
}

/** Cross-field checks of the top level, run on the raw document like the policy's. */
function lintTopLevel(raw: unknown, env: ParseOptions['env']): { errors: Finding[]; warnings: Finding[] } {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const file = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const issuer = typeof file.issuer === 'string' ? file.issuer : GITHUB_ISSUER;
  if (issuer !== GITHUB_ISSUER && file.jwks_url === undefined) {
    errors.push({
      path: ['jwks_url'],
      near: ['issuer'],
      message: `is required when issuer is not ${GITHUB_ISSUER}; write the issuer's JWKS URL (the broker never discovers keys from token input)`,
    });
  }
  if (issuer.endsWith('/')) {
    errors.push({
      path: ['issuer'],
      message: `must not end with "/": issuers are compared exactly; write ${issuer.replace(/\/+$/, '')}`,
    });
  }
  if (
    typeof file.replay_store === 'string' &&
    file.replay_store.toLowerCase() === 'memory' &&
    file.replay_store !== 'memory'
  ) {
    errors.push({
      path: ['replay_store'],
      message: 'must be memory or redis://host:port; did you mean "memory"?',
    });
  }
  if (
    typeof file.replay_store_env === 'string' &&
    file.replay_store !== undefined &&
    file.replay_store !== 'memory'
  ) {
    errors.push({
      path: ['replay_store_env'],
      near: ['replay_store'],
      message:
        'set either replay_store or replay_store_env, not both (replay_store_env names the variable holding the Redis URL)',
    });
  }
  if (
    typeof file.replay_store === 'string' &&
    /^rediss?(\+cluster)?:\/\/[^/@]*:[^/@]+@/.test(file.replay_store)
  ) {
    warnings.push({
      path: ['replay_store'],
      message:
        'the Redis password is in the config file; put the URL in an environment variable and name it in replay_store_env',
    });
  }
  errors.push(...lintTrustProxy(file));
  const projects = file.projects;
  if (projects && typeof projects === 'object' && !Array.isArray(projects)) {
    if (Object.keys(projects).length === 0) {
      errors.push({
        path: ['projects'],
        message: 'add at least one project; the broker would deny every request',
      });
    }
  }
  warnings.push(...lintProjectsAndSecrets(file, env));
  return { errors, warnings };
}

const isLoopbackHttp = (value: string) => URL.canParse(value) && isHttpsOrLoopback(new URL(value));

/** Mistakes that still parse: a variable unset where the broker runs, one Vercel project twice, a plain-http audience. */
function lintProjectsAndSecrets(file: Record<string, unknown>, env: ParseOptions['env']): Finding[] {
  const warnings: Finding[] = [];
  if (
    typeof file.audience === 'string' &&
    /^http:\/\//i.test(file.audience) &&
    !isLoopbackHttp(file.audience)
  ) {
    warnings.push({
      path: ['audience'],
      message: `is plain http://; the action sends credentials to the broker URL in clear${file.public_url === undefined ? ' (with public_url unset this URL is the broker URL)' : ''}; write https://${file.audience.replace(/^http:\/\//i, '')}`,
    });
  }
  const app = file.github_app as { private_key_env?: unknown } | undefined;
  if (env && typeof app?.private_key_env === 'string' && !env[app.private_key_env]) {
    warnings.push({
      path: ['github_app', 'private_key_env'],
      message: `${app.private_key_env} is not set in this environment; keyhole-broker serve refuses to start until it holds the GitHub App's private key (the .pem file GitHub generated)`,
    });
  }
  const projects = file.projects;
  if (!projects || typeof projects !== 'object' || Array.isArray(projects)) return warnings;
  const byProjectId = new Map<string, string>();
  for (const [name, project] of Object.entries(projects as Record<string, unknown>)) {
    const { token_env: tokenEnv, project_id: projectId } = (project ?? {}) as Record<string, unknown>;
    if (env && typeof tokenEnv === 'string' && !env[tokenEnv]) {
      warnings.push({
        path: ['projects', name, 'token_env'],
        message: `${tokenEnv} is not set in this environment; project ${name} cannot deploy until it is (its exchanges answer 503)`,
      });
    }
    if (typeof projectId !== 'string') continue;
    const first = byProjectId.get(projectId);
    if (first === undefined) byProjectId.set(projectId, name);
    else {
      warnings.push({
        path: ['projects', name, 'project_id'],
        message: `${projectId} is also project ${first}'s project_id: both names deploy the same Vercel project under different rules; keep one project with all the rules, or fix the id`,
      });
    }
  }
  return warnings;
}

/** X-Forwarded-For is read only from the listed proxies: trusting it from any peer lets every client pick its address. */
function lintTrustProxy(file: Record<string, unknown>): Finding[] {
  if (file.trust_proxy === true && file.trusted_proxies === undefined)
    return [
      {
        path: ['trust_proxy'],
        message:
          'needs trusted_proxies: the addresses (CIDRs) of your reverse proxies, e.g. trusted_proxies: ["10.0.0.0/8"]; X-Forwarded-For is read only from those peers, since any client can send the header',
      },
    ];
  if (file.trust_proxy !== true && file.trusted_proxies !== undefined)
    return [
      {
        path: ['trusted_proxies'],
        message: 'is read only with trust_proxy: true; add it, or remove trusted_proxies',
      },
    ];
  return [];
}

/** Names that usually hold secrets: `vercel pull` writes them into the workspace in clear. */
const SECRET_SUFFIXES = [
  '_SECRET',
  '_TOKEN',
  '_KEY',
  '_PASSWORD',
  '_PASS',
  '_PWD',
  '_CREDENTIALS',
  '_PRIVATE_KEY',
];
const SECRET_PARTS = ['PASSWORD', 'SECRET', 'PRIVATE'];
const SECRET_NAMES = [
  'DATABASE_URL',
  'POSTGRES_URL',
  'POSTGRES_PRISMA_URL',
  'REDIS_URL',
  'KV_URL',
  'MONGODB_URI',
  'VERCEL_OIDC_TOKEN',
];

export function looksSecret(name: string): boolean {
  const upper = name.toUpperCase();
  return (
    SECRET_NAMES.includes(upper) ||
    SECRET_SUFFIXES.some((suffix) => upper.endsWith(suffix)) ||
    SECRET_PARTS.some((part) => upper.includes(part))
  );
}

/**
 * `env_pull` hands variable values to the workflow: secrets should stay in Vercel (read at build
 * time there). Production values reach only jobs gated by GitHub environment protection rules
 * because the schema already refuses a production rule without `environments`.
 */
function checkEnvPull(name: string, project: ConfigFile['projects'][string], warnings: Finding[]) {
  project.env_pull.forEach((variable, i) => {
    if (looksSecret(variable)) {
      warnings.push({
        path: ['projects', name, 'env_pull', i],
        message: `${variable} looks like a secret; env_pull writes it into the workspace of every job that may deploy (list only values a build may print, e.g. NEXT_PUBLIC_*)`,
      });
    }
  });
}

/**
 * Checks that need the schema-valid document (defaults applied): they run once the schema
 * passes, alongside the raw-document checks' warnings.
 */
function checkParsed(file: ConfigFile): { errors: Finding[]; warnings: Finding[] } {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  for (const [name, project] of Object.entries(file.projects)) {
    checkEnvPull(name, project, warnings);
    // A promote environment no production rule admits can never promote: most likely a typo.
    const productionEnvironments = project.allow
      .filter((rule) => rule.targets.includes('production'))
      .flatMap((rule) => (rule.environments ?? []).map(foldCase));
    for (const [key, verb] of [
      ['promote_environments', 'promote'],
      ['rollback_environments', 'roll back'],
    ] as const) {
      project[key]?.forEach((environment, i) => {
        if (!productionEnvironments.includes(foldCase(environment))) {
          warnings.push({
            path: ['projects', name, key, i],
            message: `no production rule of ${name} names the environment ${environment}, so no job can ${verb}; add it to a production rule's environments`,
          });
        }
      });
    }
    if (project.require_dpop) {
      if (!file.public_url && !/^https?:\/\//.test(file.audience)) {
        errors.push({
          path: ['projects', name, 'require_dpop'],
          message:
            'needs the broker URL that clients use: set public_url (e.g. https://keyhole.example.com), which DPoP proofs must name',
        });
      }
      warnings.push({
        path: ['projects', name, 'require_dpop'],
        message:
          "credentials are bound to the Keyhole action's own key: the official Vercel CLI cannot send DPoP proofs, so credential-only mode (action input deploy: false) is refused for this project",
      });
    }
  }
  errors.push(...checkAliasOverlap(file));
  return { errors, warnings };
}

/**
 * Assigning an alias moves it away from whatever deployment holds it: two projects whose patterns
 * overlap could take each other's preview URLs, and a preview credential (any branch) whose patterns
 * overlap a custom environment's could take that environment's names, so the patterns of different
 * projects, and of different targets of one project, must be disjoint.
 */
function checkAliasOverlap(file: ConfigFile): Finding[] {
  const issues: Finding[] = [];
  const seen: { project: string; target: string; pattern: string }[] = [];
  for (const [name, project] of Object.entries(file.projects)) {
    const lists: [string, (string | number)[], string[]][] = [
      ['preview', ['preview_aliases'], project.preview_aliases],
      ...Object.entries(project.custom_environment_aliases).map(
        ([env, patterns]): [string, (string | number)[], string[]] => [
          env,
          ['custom_environment_aliases', env],
          patterns,
        ],
      ),
    ];
    for (const [target, at, patterns] of lists) {
      patterns.forEach((pattern, i) => {
        const other = seen.find(
          (s) => (s.project !== name || s.target !== target) && aliasPatternsOverlap(s.pattern, pattern),
        );
        if (other) {
          const whose = other.project === name ? `the ${other.target} aliases` : `project ${other.project}`;
          issues.push({
            path: ['projects', name, ...at, i],
            message: `"${pattern}" overlaps "${other.pattern}" of ${whose}; give each project and target its own names, e.g. "*.${name}.preview.example.com"`,
          });
        }
      });
      for (const pattern of patterns) seen.push({ project: name, target, pattern });
    }
  }
  return issues;
}

/** Origin plus path without the trailing slash: a DPoP proof's `htu` = this + the request's path. */
function normalizePublicUrl(value: string): string {
  const url = new URL(value);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function compileConfig(file: ConfigFile, jwksUrl: string): CompiledConfig {
  const projects = new Map<string, CompiledProject>();
  for (const [name, project] of Object.entries(file.projects)) {
    projects.set(
      name,
      Object.freeze({
        name,
        teamId: project.team_id,
        projectId: project.project_id,
        tokenEnv: project.token_env,
        allowProjectSettings: project.allow_project_settings,
        previewAliases: Object.freeze(
          project.preview_aliases.map((pattern) =>
            Object.freeze({ pattern, match: compileAliasPattern(pattern) }),
          ),
        ),
        customEnvironments: Object.freeze([...project.custom_environments]),
        customEnvironmentAliases: new Map(
          Object.entries(project.custom_environment_aliases).map(([environment, patterns]) => [
            environment,
            Object.freeze(
              patterns.map((pattern) => Object.freeze({ pattern, match: compileAliasPattern(pattern) })),
            ),
          ]),
        ),
        runtimeLogs: project.runtime_logs,
        envPull: Object.freeze([...project.env_pull]),
        maxCredentialsPerJob: project.max_credentials_per_job,
        requireDpop: project.require_dpop,
        githubUnreachable: Object.freeze({ ...project.github_unreachable }),
        ...(project.build_env_names ? { buildEnvNames: Object.freeze([...project.build_env_names]) } : {}),
        ...(project.promote_environments
          ? { promoteEnvironments: Object.freeze(project.promote_environments.map(foldCase)) }
          : {}),
        cleanupPreviews: project.cleanup_previews,
        ...(project.rollback_environments
          ? { rollbackEnvironments: Object.freeze(project.rollback_environments.map(foldCase)) }
          : {}),
        rules: compileRules(project.allow),
      }),
    );
  }
  const publicUrl = file.public_url ?? (/^https?:\/\//.test(file.audience) ? file.audience : undefined);
  return Object.freeze({
    audience: file.audience,
    ...(publicUrl ? { publicUrl: normalizePublicUrl(publicUrl) } : {}),
    ...(file.github_app ? { githubApp: Object.freeze({ ...file.github_app }) } : {}),
    issuer: file.issuer,
    jwksUrl,
    vercelApiUrl: file.vercel_api_url.replace(/\/+$/, ''),
    credentialTtlSeconds: file.credential_ttl_seconds,
    signingKeyEnv: file.signing_key_env,
    replayStore: file.replay_store,
    ...(file.replay_store_env ? { replayStoreEnv: file.replay_store_env } : {}),
    ...(file.metrics_token_env ? { metricsTokenEnv: file.metrics_token_env } : {}),
    limits: Object.freeze({ ...file.limits }),
    trustProxy: file.trust_proxy,
    ...(file.trusted_proxies ? { trustedProxies: Object.freeze([...file.trusted_proxies]) } : {}),
    shutdownGraceSeconds: file.shutdown_grace_seconds,
    projects,
  });
}

/**
 * Parses and validates `text` in one pass: YAML errors stop early (a broken document cannot be
 * checked), otherwise schema errors, cross-field errors and warnings are reported together, each
 * with its line and what to write instead. Throws ConfigError when anything is an error.
 */
export function parseConfig(text: string, file = 'config', options: ParseOptions = {}): LoadedConfig {
  const { raw, place } = readYaml(text, file);
  const parsed = configSchema.safeParse(raw);
  const policy = lintPolicy(raw);
  const top = lintTopLevel(raw, options.env);
  const advice = [...top.errors, ...policy.errors];
  // Where a check of ours has advice for a value, it replaces the schema's generic complaint.
  const advised = new Set(advice.map((f) => formatPath(f.path)));
  const schemaErrors = parsed.success
    ? []
    : parsed.error.issues
        .flatMap((issue) => describeIssue(issue, raw, knownKeysAt))
        .filter((f) => !advised.has(formatPath(f.path)));
  const typed = parsed.success ? checkParsed(parsed.data) : { errors: [], warnings: [] };
  const errors = [...schemaErrors, ...advice, ...typed.errors].map(place).sort(byLine);
  const warnings = [...top.warnings, ...policy.warnings, ...typed.warnings].map(place).sort(byLine);
  if (errors.length > 0 || !parsed.success) throw new ConfigError(file, errors, warnings);
  const jwksUrl = parsed.data.jwks_url ?? GITHUB_JWKS_URL;
  return { config: compileConfig(parsed.data, jwksUrl), warnings };
}
