/**
 * One credential per job, shared by its Keyhole steps: a step whose credential outlives it
 * (`deploy: false`, e.g. `pull: true` before a build) leaves it in a file under RUNNER_TEMP (the
 * runner's per-job folder, removed after the job), and a later Keyhole step of the same job for
 * the same broker, project and target uses it instead of a second exchange, which the broker's
 * `max_credentials_per_job` (default 1) refuses. The step that exchanged keeps it in its own state,
 * so its post step, the LAST to run (post steps run in reverse order), revokes it.
 *
 * The file holds what the job's environment already holds (`deploy: false` exports VERCEL_TOKEN):
 * a step of the job that could read or plant it gains nothing it did not have. Before use, the
 * broker is asked with it (GET the pinned project): a revoked, expired or foreign one is dropped
 * and the step exchanges as usual.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { ExchangeResponse } from '../shared/wire.js';
import { readRunnerFile, removeRunnerFile, writeFileInside } from './safe-fs.js';

const FOLDER = 'keyhole-credentials';
/** A credential this close to its end is not worth handing on: exchange a fresh one. */
const MARGIN_MS = 60_000;

interface Key {
  brokerUrl: string;
  project: string;
  target: string;
}

/** The file's name: the broker, project and target it is for, hashed (no input reaches the path). */
const fileName = (key: Key) =>
  `${createHash('sha256').update(`${key.brokerUrl}\n${key.project}\n${key.target}`).digest('hex').slice(0, 32)}.json`;

/** The exchange's answer, and the job's GitHub environment its OIDC token named (for GitHub Deployments). */
type Saved = ExchangeResponse & { job_environment?: string };

export function saveJobCredential(
  env: NodeJS.ProcessEnv,
  key: Key,
  exchanged: ExchangeResponse,
  jobEnvironment: string | undefined,
): void {
  if (!env.RUNNER_TEMP || exchanged.token_type === 'DPoP') return; // a key-bound one needs this process's key
  const saved: Saved = { ...exchanged, ...(jobEnvironment ? { job_environment: jobEnvironment } : {}) };
  writeFileInside(env.RUNNER_TEMP, `${FOLDER}/${fileName(key)}`, JSON.stringify(saved), 0o600);
}

export function forgetJobCredential(env: NodeJS.ProcessEnv, key: Key): void {
  if (env.RUNNER_TEMP) removeRunnerFile(path.join(env.RUNNER_TEMP, FOLDER, fileName(key)));
}

/** The job's credential for `key` when an earlier step left one that has not run out; not yet checked with the broker. */
export function readJobCredential(env: NodeJS.ProcessEnv, key: Key, now: number): Saved | undefined {
  if (!env.RUNNER_TEMP) return undefined;
  let saved: Partial<Saved>;
  try {
    const bytes = readRunnerFile(path.join(env.RUNNER_TEMP, FOLDER, fileName(key)), 64 * 1024);
    if (!bytes) return undefined;
    saved = JSON.parse(bytes.toString('utf8')) as Partial<Saved>;
  } catch {
    return undefined; // unreadable or not ours: exchange as if there were none
  }
  const usable =
    typeof saved.credential === 'string' &&
    typeof saved.expires_at === 'number' &&
    saved.expires_at - MARGIN_MS > now &&
    saved.token_type !== 'DPoP' &&
    saved.target === key.target &&
    typeof saved.project?.id === 'string' &&
    typeof saved.project.team_id === 'string';
  return usable ? (saved as Saved) : undefined;
}

/** True when the broker still honours the credential for its pinned project (not revoked, not expired, the job still running). */
export async function brokerHonours(
  brokerUrl: string,
  exchanged: ExchangeResponse,
  fetchImpl: typeof fetch,
): Promise<boolean> {
  const { id, team_id } = exchanged.project;
  try {
    const response = await fetchImpl(
      `${brokerUrl}/v9/projects/${encodeURIComponent(id)}?teamId=${encodeURIComponent(team_id)}`,
      {
        headers: { authorization: `Bearer ${exchanged.credential}`, accept: 'application/json' },
        signal: AbortSignal.timeout(10_000),
      },
    );
    const body = (await response.json().catch(() => undefined)) as { id?: unknown } | undefined;
    return response.ok && body?.id === id;
  } catch {
    return false;
  }
}
