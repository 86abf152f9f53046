/**
 * A job's credentials: at most `max_credentials_per_job` per project, counted in the store every
 * instance shares, and a retry of the same step (same Idempotency-Key, same key pair) gets the
 * credential its first attempt minted instead of a second one.
 */
import { IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_PATTERN } from '../../shared/wire.js';
import type { AuditEvent } from '../audit.js';
import { toHex } from '../bytes.js';
import type { CredentialClaims } from '../credential/credential.js';
import { badRequest, BrokerError } from '../errors.js';
import { JOB_WINDOW_MS } from '../github/job.js';
import type { CompiledProject } from '../policy/compiled.js';
import { storeKeys } from '../store/store.js';
import type { ExchangeDeps } from './handler.js';
import { storeUnavailable } from './one-time.js';

const sha256Hex = async (text: string) =>
  toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));

/** A store failure on the way to a credential fails closed, with a retry hint. */
async function orUnavailable<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof BrokerError) throw error;
    throw new BrokerError(503, 'unavailable', `The broker cannot ${what} right now; retry shortly.`, {
      'retry-after': '5',
    });
  }
}

/** The store key of this step's retry record, when the request names its step (Idempotency-Key). */
export async function retryRecordKey(
  request: Request,
  project: CompiledProject,
  job: string,
  audit: Partial<AuditEvent>,
): Promise<string | undefined> {
  const idempotencyKey = request.headers.get(IDEMPOTENCY_HEADER);
  if (idempotencyKey === null) return undefined;
  if (!IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey))
    throw badRequest('Idempotency-Key must be 16-128 letters, digits, _ or -').with({ audit });
  return storeKeys.exchangeRetry(project.name, job, await sha256Hex(idempotencyKey));
}

/** The credential an earlier attempt of this step minted, when it is still good for this request. */
export async function findRetry(
  deps: ExchangeDeps,
  record: string,
  wanted: { target: string; jkt: string | undefined; now: number },
  audit: Partial<AuditEvent>,
): Promise<CredentialClaims | undefined> {
  const stored = await orUnavailable('look up this job', () => deps.replay.get(record));
  const previous = stored ? (JSON.parse(stored) as CredentialClaims) : undefined;
  if (!previous || previous.tgt !== wanted.target || previous.jkt !== wanted.jkt) return undefined;
  if (previous.exp <= wanted.now + 5_000) return undefined;
  // Revoked meanwhile (the job's own post step, an admin): the retry gets a refusal, not a
  // credential every gateway call would refuse. The store's silence is a 503, as at the gateway.
  try {
    await deps.revocations?.check(previous);
  } catch (error) {
    if (!(error instanceof BrokerError) || error.status !== 401)
      throw storeUnavailable().with({ audit, reason: 'replay store unavailable' });
    throw new BrokerError(
      403,
      'forbidden',
      "The credential this exchange already issued (same Idempotency-Key) was revoked; a new deploy step sends a new Idempotency-Key and gets a new credential, within the job's max_credentials_per_job.",
    ).with({ audit, reason: `retry of revoked credential ${previous.cid}` });
  }
  return previous;
}

/** Takes one of the job's credential slots; returns the give-back for a credential never answered. */
export async function takeJobSlot(
  deps: ExchangeDeps,
  project: CompiledProject,
  job: string,
  audit: Partial<AuditEvent>,
): Promise<() => Promise<void>> {
  // One job, a bounded number of credentials: counted atomically in the store every instance shares.
  const slotKey = storeKeys.jobSlots(project.name, job);
  const taken = await orUnavailable("count this job's credentials", () =>
    deps.replay.take(slotKey, 1, project.maxCredentialsPerJob, JOB_WINDOW_MS),
  );
  if (taken === undefined) {
    throw new BrokerError(
      403,
      'job_limit',
      `This job already obtained ${project.maxCredentialsPerJob} credential(s) for ${project.name}, the project's max_credentials_per_job. Use the credential the job already has, or re-run the job (a new attempt is a new job).`,
    ).with({
      audit,
      reason: `job_limit: ${project.maxCredentialsPerJob} credential(s) already issued to job ${job}`,
    });
  }
  return async () => {
    await deps.replay.take(slotKey, -1, project.maxCredentialsPerJob, JOB_WINDOW_MS).catch(() => undefined);
  };
}

/** Records the minted credential for a retry of this step; unrecorded, it is never answered. */
export async function recordRetry(
  deps: ExchangeDeps,
  record: string,
  minted: CredentialClaims,
  ttlMs: number,
  giveBackSlot: () => Promise<void>,
  audit: Partial<AuditEvent>,
): Promise<void> {
  try {
    await orUnavailable('record this exchange', () => deps.replay.put(record, JSON.stringify(minted), ttlMs));
  } catch (error) {
    // Unrecorded, the credential could not be handed to a retry: it is never answered, and the
    // job's slot is given back so the retry the 503 asks for can succeed.
    await giveBackSlot();
    throw (error as BrokerError).with({ audit, reason: 'replay store unavailable' });
  }
}
