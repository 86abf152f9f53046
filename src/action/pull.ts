/**
 * `pull: true`: writes what `vercel pull` writes, read through the broker: `.vercel/project.json`
 * (the project's settings) and `.vercel/.env.<target>.local` (the names the broker's env_pull lists).
 */
import { isErrorBody } from '../shared/wire.js';
import type { Credential } from './credential.js';
import { resolveInside } from './files.js';
import { writeFileInside } from './safe-fs.js';
import { fetchRetrying, type RetryPolicy } from './retry.js';
import type { Step } from './step.js';

export interface PullSettings {
  brokerUrl: string;
  credential: string;
  target: string;
  /** The project directory: `.vercel/` is written inside it. */
  dir: string;
  /** The pushed branch, for branch-specific preview variables; the broker accepts only the job's own. */
  branch?: string;
}

export interface PullDeps {
  fetch: typeof fetch;
  retry: RetryPolicy;
}

export class PullError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'PullError';
    this.status = status;
  }
}

/** The header `vercel pull` writes: a later `vercel pull` then overwrites the file without asking. */
const CONTENTS_PREFIX = '# Created by Vercel CLI\n';

/** The settings `vercel pull` keeps in project.json (CLI `util/projects/project-settings.ts`). */
const SETTINGS = [
  'createdAt',
  'framework',
  'devCommand',
  'installCommand',
  'buildCommand',
  'outputDirectory',
  'rootDirectory',
  'directoryListing',
  'nodeVersion',
];

/** One line per variable, escaped as the CLI does, sorted by name. */
export function envFileContents(env: Record<string, string>): string {
  const escape = (value: string) => value.replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  return (
    CONTENTS_PREFIX +
    Object.keys(env)
      .sort()
      .map((key) => `${key}="${escape(env[key] ?? '')}"`)
      .join('\n') +
    '\n'
  );
}

async function getJson(settings: PullSettings, deps: PullDeps, what: string, url: string) {
  const response = await fetchRetrying(deps.fetch, what, deps.retry, url, {
    headers: { authorization: `Bearer ${settings.credential}`, accept: 'application/json' },
  });
  const body = (await response.json().catch(() => undefined)) as unknown;
  if (!response.ok) {
    const detail = isErrorBody(body)
      ? `${body.error.code}: ${body.error.message}`
      : `HTTP ${response.status}`;
    throw new PullError(`${what} failed (${detail})`, response.status);
  }
  return body as Record<string, unknown>;
}

/** Returns the names written, for the log (values are never printed). */
export async function pullProject(
  settings: PullSettings,
  project: { id: string; team_id: string },
  deps: PullDeps,
  /** build: true pulls "when env_pull allows": a project that lists no names builds without them. */
  options: { envMayBeRefused?: boolean } = {},
): Promise<{ names: string[]; envFile: string; projectFile: string; envRefused?: boolean }> {
  const base = settings.brokerUrl;
  const remote = await getJson(
    settings,
    deps,
    'reading the project settings',
    `${base}/v9/projects/${project.id}`,
  );
  // Branch overrides exist for previews only; names the broker would refuse to carry are left out.
  const branch =
    settings.target === 'preview' && settings.branch && /^[A-Za-z0-9._/-]{1,255}$/.test(settings.branch)
      ? `/${encodeURIComponent(settings.branch)}`
      : '';
  let envRefused = false;
  const pulled = await getJson(
    settings,
    deps,
    'pulling environment variables',
    `${base}/v3/env/pull/${project.id}/${encodeURIComponent(settings.target)}${branch}?source=keyhole-action`,
  ).catch((error: unknown) => {
    // Only the refusal that says env_pull lists nothing; any other refusal still fails the step.
    const listsNothing =
      error instanceof PullError && error.status === 403 && /read no variables/.test(error.message);
    if (!(options.envMayBeRefused && listsNothing)) throw error;
    envRefused = true;
    return {} as Record<string, unknown>;
  });
  const env = (typeof pulled.env === 'object' && pulled.env !== null ? pulled.env : {}) as Record<
    string,
    string
  >;

  // Written as every workspace file is (safe-fs.ts): `.vercel` must be a real directory, and each
  // file lands by rename, so a planted symlink is replaced rather than written through.
  const projectFile = writeFileInside(
    settings.dir,
    '.vercel/project.json',
    `${JSON.stringify(
      {
        projectId: project.id,
        orgId: project.team_id,
        projectName: remote.name,
        settings: Object.fromEntries(SETTINGS.map((key) => [key, remote[key]])),
      },
      null,
      2,
    )}\n`,
  );
  // Owner-only: the listed values are meant to be public, but a build's inputs are nobody else's business.
  const envFile = writeFileInside(
    settings.dir,
    `.vercel/.env.${settings.target}.local`,
    envFileContents(env),
    0o600,
  );
  return { names: Object.keys(env).sort(), envFile, projectFile, ...(envRefused ? { envRefused } : {}) };
}

/** The `pull` step of a run, before any deploy: the files land in the directory it deploys. */
export async function runPull(
  step: Step,
  { exchanged, gatewayFetch }: Credential,
  options: { envMayBeRefused?: boolean } = {},
): Promise<void> {
  const { deps, settings } = step;
  const { env } = deps;
  // Written inside the real (symlink-resolved) directory, which must stay inside the workspace.
  const dir = await resolveInside(settings.path, settings.workspace);
  const pulled = await step.phase('pull', () =>
    pullProject(
      {
        brokerUrl: settings.brokerUrl,
        credential: exchanged.credential,
        target: settings.target,
        dir,
        ...(env.GITHUB_REF?.startsWith('refs/heads/')
          ? { branch: env.GITHUB_REF.slice('refs/heads/'.length) }
          : {}),
      },
      exchanged.project,
      { fetch: gatewayFetch, retry: deps.retry },
      options,
    ),
  );
  if (pulled.envRefused)
    deps.core.info(
      `The broker's env_pull lists no variables for ${settings.project}: building without pulled variables`,
    );
  deps.core.info(
    `Pulled ${pulled.names.length} variable(s) for ${settings.target} into ${pulled.envFile}${pulled.names.length ? `: ${pulled.names.join(', ')}` : ''}; settings in ${pulled.projectFile}`,
  );
}
