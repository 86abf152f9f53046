/**
 * The local world `npm run try` builds around a user's config: the Vercel fake and local GitHub
 * seeded from it, and the config itself rewritten to point at them (the rest kept as written).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { isMap, isPair, isScalar, parseDocument, visit, type Document } from 'yaml';
import type { FakeRepository } from '../github-api/index.js';
import type { FakeProject } from '../vercel/index.js';
import { AUDIENCE } from '../config.js';

/** The upstream token the Vercel fake accepts: every token_env of the config holds it. */
export const FAKE_VERCEL_TOKEN = 'try_fake_vercel_token';

export interface ConfigProject {
  name: string;
  teamId: string;
  projectId: string;
  rules: Record<string, unknown>[];
  /** The custom environments the project declares (slugs or `env_…` ids). */
  customEnvironments: string[];
}

export interface LocalWorldUrls {
  issuer: string;
  jwksUrl: string;
  vercelApiUrl: string;
  brokerUrl: string;
  github?: { url: string; appId: string; privateKey: string; always?: boolean };
}

/** The projects as written (only what the fakes need), read without judging the rest. */
export function projectsOf(doc: Document): ConfigProject[] {
  const projects = doc.toJS()?.projects as Record<string, Record<string, unknown>> | undefined;
  return Object.entries(projects ?? {}).map(([name, p]) => ({
    name,
    teamId: String(p?.team_id ?? 'team_local'),
    projectId: String(p?.project_id ?? `prj_${name}`),
    rules: Array.isArray(p?.allow) ? (p.allow as Record<string, unknown>[]) : [],
    customEnvironments: Array.isArray(p?.custom_environments) ? p.custom_environments.map(String) : [],
  }));
}

/** Vercel as the config expects it: each project under its team, with the id and name the config gives. */
export function vercelSeed(projects: ConfigProject[]): {
  teams: { id: string; slug: string }[];
  projects: FakeProject[];
} {
  const teams = [...new Set(projects.map((p) => p.teamId))].map((id, i) => ({ id, slug: `team-${i + 1}` }));
  return {
    teams,
    projects: projects.map((p) => ({
      id: p.projectId,
      name: p.name,
      teamId: p.teamId,
      framework: null,
      // A declared custom environment exists on Vercel: named by slug, or by id (`env_…`).
      customEnvironments: p.customEnvironments.map((name, i) =>
        name.startsWith('env_') ? { id: name, slug: name } : { id: `env_try${i + 1}`, slug: name },
      ),
    })),
  };
}

/**
 * GitHub as the rules expect it: each rule's repository with its pinned ids, the environments the
 * rules name (with reviewers and the branch policies the rule's refs allow) and the pinned workflow
 * files, so `doctor` reads the setup the config describes. A check run is in progress for the job.
 */
export function githubSeed(projects: ConfigProject[], checkRunId: string): FakeRepository[] {
  const repos = new Map<string, FakeRepository>();
  for (const rule of projects.flatMap((p) => p.rules)) {
    const full = typeof rule.repository === 'string' ? rule.repository : undefined;
    if (!full || !full.includes('/') || /[*?]/.test(full)) continue;
    const [owner, name] = full.split('/') as [string, string];
    const repo = repos.get(full.toLowerCase()) ?? {
      owner,
      name,
      id: Number(rule.repository_id ?? 1) || 1,
      ownerId: Number(rule.repository_owner_id ?? 1) || 1,
      environments: [],
      files: [],
      checkRuns: { [checkRunId]: 'in_progress' as const },
    };
    repos.set(full.toLowerCase(), repo);
    const refs = (Array.isArray(rule.refs) ? rule.refs : []).map(String);
    const branches = refs
      .filter((r) => r.startsWith('refs/heads/'))
      .map((r) => r.slice('refs/heads/'.length));
    const tags = refs.filter((r) => r.startsWith('refs/tags/')).map((r) => r.slice('refs/tags/'.length));
    for (const env of Array.isArray(rule.environments) ? rule.environments.map(String) : []) {
      if (repo.environments!.some((e) => e.name === env)) continue;
      repo.environments!.push({
        name: env,
        reviewers: 1,
        branches: 'custom',
        policies: [
          ...branches.map((b) => ({ name: b, type: 'branch' as const })),
          ...tags.map((t) => ({ name: t, type: 'tag' as const })),
        ],
      });
    }
    for (const workflow of Array.isArray(rule.workflows) ? rule.workflows.map(String) : []) {
      // owner/repo/.github/workflows/x.yml@refs/heads/main → refs/heads/main:.github/workflows/x.yml
      const match = /^[^/]+\/[^/]+\/(.+)@(refs\/.+)$/.exec(workflow);
      if (match) repo.files!.push(`${match[2]}:${match[1]}`);
    }
  }
  return [...repos.values()];
}

export interface Rewritten {
  yaml: string;
  /** The broker's environment: every *_env name the config gives, filled. */
  env: Record<string, string>;
  /** What was changed, for the user to read. */
  notes: string[];
}

/**
 * The user's config pointed at the local world: issuer, jwks_url, vercel_api_url, audience (and
 * public_url, github_app when present) replaced, the replay store in memory, every `*_env` name
 * filled with a fake value; projects, rules and limits exactly as written.
 */
export function rewriteConfig(text: string, urls: LocalWorldUrls): Rewritten {
  const doc = parseDocument(text);
  const env: Record<string, string> = {};
  const notes: string[] = [];
  doc.set('audience', AUDIENCE);
  doc.set('issuer', urls.issuer);
  doc.set('jwks_url', urls.jwksUrl);
  doc.set('vercel_api_url', urls.vercelApiUrl);
  if (doc.has('public_url')) doc.set('public_url', urls.brokerUrl);
  if (doc.has('replay_store_env') || String(doc.get('replay_store') ?? 'memory') !== 'memory') {
    doc.delete('replay_store_env');
    doc.set('replay_store', 'memory');
    notes.push('replay_store: memory (a dry run keeps no shared state)');
  }
  // doctor needs a github_app even when the config has none yet: it is the admin's next step.
  if (urls.github && (isMap(doc.get('github_app')) || urls.github.always)) {
    if (!doc.hasIn(['github_app', 'private_key_env']))
      doc.setIn(['github_app', 'private_key_env'], 'KEYHOLE_GITHUB_APP_KEY');
    doc.setIn(['github_app', 'app_id'], urls.github.appId);
    doc.setIn(['github_app', 'api_url'], urls.github.url);
    notes.push('github_app: the local GitHub API, with a key generated for this run');
  }
  const signingEnv = String(doc.get('signing_key_env') ?? 'KEYHOLE_SIGNING_KEY');
  env[signingEnv] = `try:${randomBytes(32).toString('base64url')}`;
  visit(doc, {
    Pair(_, pair) {
      if (!isPair(pair) || !isScalar(pair.key) || !isScalar(pair.value)) return;
      const key = String(pair.key.value);
      const name = String(pair.value.value);
      if (!key.endsWith('_env') || name in env) return;
      if (key === 'token_env') env[name] = FAKE_VERCEL_TOKEN;
      else if (key === 'private_key_env' && urls.github) env[name] = urls.github.privateKey;
      else env[name] = `try_${randomBytes(16).toString('hex')}`;
    },
  });
  return { yaml: doc.toString(), env, notes };
}

/** A port free right now on loopback, for a broker whose public_url must be known before it starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
