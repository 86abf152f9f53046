/** Reads the broker's YAML config strictly and returns the compiled configuration, or every error with its fix. */
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { GITHUB_ISSUER, GITHUB_JWKS_URL } from './oidc/claims.js';
import { aliasPatternsOverlap, compileAliasPattern } from './alias-patterns.js';
import type { CompiledConfig, CompiledProject } from './config-types.js';
import { compileRules, RISKY_EVENTS } from './policy/compile.js';
import { configSchema, KNOWN_KEYS, type ConfigFile } from './policy/schema.js';

export interface ConfigIssue {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(file: string, issues: ConfigIssue[]) {
    super(
      `${file}: ${issues.length} error${issues.length === 1 ? '' : 's'}\n` +
        issues.map((i) => `  ${i.path || '(top level)'}: ${i.message}`).join('\n'),
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export interface LoadedConfig {
  config: CompiledConfig;
  warnings: ConfigIssue[];
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

function knownKeysAt(path: readonly PropertyKey[]): string[] {
  if (path.length === 0) return KNOWN_KEYS.top;
  if (path[0] === 'limits') return KNOWN_KEYS.limits;
  if (path[0] === 'github_app') return KNOWN_KEYS.github_app;
  if (path[0] === 'projects' && path.length === 2) return KNOWN_KEYS.project;
  if (path[0] === 'projects' && path[2] === 'allow') return KNOWN_KEYS.rule;
  return [];
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (node, key) =>
      node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[key] : undefined,
    root,
  );
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): ConfigIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const known = knownKeysAt(issue.path);
      const best = known
        .map((k) => ({ k, d: distance(key, k) }))
        .sort((x, y) => x.d - y.d)
        .find((c) => c.d <= 3);
      const hint = best ? `did you mean "${best.k}"?` : `known keys here: ${known.join(', ')}`;
      return { path: formatPath([...issue.path, key]), message: `unknown key; ${hint}` };
    });
  }
  if (issue.code === 'invalid_type' && valueAt(raw, issue.path) === undefined) {
    return [{ path: formatPath(issue.path), message: 'is required' }];
  }
  return [{ path: formatPath(issue.path), message: issue.message }];
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
function checkEnvPull(name: string, project: ConfigFile['projects'][string], warnings: ConfigIssue[]) {
  project.env_pull.forEach((variable, i) => {
    if (looksSecret(variable)) {
      warnings.push({
        path: `projects.${name}.env_pull[${i}]`,
        message: `${variable} looks like a secret; env_pull writes it into the workspace of every job that may deploy (list only values a build may print, e.g. NEXT_PUBLIC_*)`,
      });
    }
  });
}

/** Policy checks beyond the schema: the rules of the policy language that are about security. */
function checkSemantics(file: ConfigFile): { errors: ConfigIssue[]; warnings: ConfigIssue[] } {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  if (file.issuer !== GITHUB_ISSUER && !file.jwks_url) {
    errors.push({
      path: 'jwks_url',
      message: `is required when issuer is not ${GITHUB_ISSUER}; write the issuer's JWKS URL (the broker never discovers keys from token input)`,
    });
  }
  if (file.issuer.endsWith('/')) {
    errors.push({ path: 'issuer', message: 'must not end with "/": issuers are compared exactly' });
  }
  if (Object.keys(file.projects).length === 0) {
    errors.push({
      path: 'projects',
      message: 'add at least one project; the broker would deny every request',
    });
  }
  for (const [name, project] of Object.entries(file.projects)) {
    checkEnvPull(name, project, warnings);
    if (project.require_dpop) {
      if (!file.public_url && !/^https?:\/\//.test(file.audience)) {
        errors.push({
          path: `projects.${name}.require_dpop`,
          message:
            'needs the broker URL that clients use: set public_url (e.g. https://keyhole.example.com), which DPoP proofs must name',
        });
      }
      warnings.push({
        path: `projects.${name}.require_dpop`,
        message:
          "credentials are bound to the Keyhole action's own key: the official Vercel CLI cannot send DPoP proofs, so credential-only mode (action input deploy: false) is refused for this project",
      });
    }
    project.allow.forEach((rule, i) => {
      const at = `projects.${name}.allow[${i}]`;
      if (!rule.repository_id || !rule.repository_owner_id) {
        warnings.push({
          path: at,
          message: `add repository_id and repository_owner_id (GitHub's immutable ids); names like "${rule.repository}" can be re-registered after a rename or deletion`,
        });
      }
      if (rule.self_hosted_runners) {
        warnings.push({
          path: `${at}.self_hosted_runners`,
          message: 'self-hosted runners may be shared or persistent',
        });
      }
      for (const event of rule.events ?? []) {
        if ((RISKY_EVENTS as readonly string[]).includes(event)) {
          warnings.push({
            path: `${at}.events`,
            message: `${event} runs with the base repository's identity on attacker-influenced input`,
          });
          if (!rule.workflows || rule.workflows.some((w) => w.includes('*'))) {
            warnings.push({
              path: `${at}.workflows`,
              message: `${event} is allowed only by a rule that pins the exact workflow, e.g. workflows: ["${rule.repository}/.github/workflows/preview-deploy.yml@refs/heads/main"]; until then this rule refuses ${event}`,
            });
          }
        }
      }
      for (const ref of rule.refs ?? []) {
        if (ref === '**' || ref === 'refs/**') {
          warnings.push({
            path: `${at}.refs`,
            message: `"${ref}" allows every branch, tag and pull request ref`,
          });
        }
      }
      if (rule.targets.includes('production') && !rule.workflows) {
        warnings.push({
          path: `${at}.workflows`,
          message: 'pin the workflow file (job_workflow_ref) that may deploy to production',
        });
      }
    });
  }
  errors.push(...checkAliasOverlap(file));
  return { errors, warnings };
}

/**
 * Assigning an alias moves it away from whatever deployment holds it: two projects whose patterns
 * overlap could take each other's preview URLs, so the patterns of different projects must be disjoint.
 */
function checkAliasOverlap(file: ConfigFile): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen: { project: string; pattern: string }[] = [];
  for (const [name, project] of Object.entries(file.projects)) {
    project.preview_aliases.forEach((pattern, i) => {
      const other = seen.find((s) => s.project !== name && aliasPatternsOverlap(s.pattern, pattern));
      if (other) {
        issues.push({
          path: `projects.${name}.preview_aliases[${i}]`,
          message: `"${pattern}" overlaps "${other.pattern}" of project ${other.project}; give each project its own names, e.g. "*.${name}.preview.example.com"`,
        });
      }
    });
    for (const pattern of project.preview_aliases) seen.push({ project: name, pattern });
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
        envPull: Object.freeze([...project.env_pull]),
        maxCredentialsPerJob: project.max_credentials_per_job,
        requireDpop: project.require_dpop,
        githubUnreachable: Object.freeze({ ...project.github_unreachable }),
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
    limits: Object.freeze({ ...file.limits }),
    trustProxy: file.trust_proxy,
    projects,
  });
}

/** Parses and validates `text`; throws ConfigError listing every problem with what to write instead. */
export function parseConfig(text: string, file = 'config'): LoadedConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({
        path: `line ${e.linePos?.[0]?.line ?? '?'}`,
        message: e.message.split('\n')[0]!,
      })),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success)
    throw new ConfigError(
      file,
      parsed.error.issues.flatMap((issue) => describeIssue(issue, raw)),
    );
  const { errors, warnings } = checkSemantics(parsed.data);
  if (errors.length > 0) throw new ConfigError(file, errors);
  const jwksUrl = parsed.data.jwks_url ?? GITHUB_JWKS_URL;
  return { config: compileConfig(parsed.data, jwksUrl), warnings };
}
