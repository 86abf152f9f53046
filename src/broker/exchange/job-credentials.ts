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
import { runExchangeStep } from '../store/exchange-step.js';
import { storeKeys, type ExchangeOutcome, type ExchangeStep } from '../store/store.js';
import type { ExchangeDeps } from './handler.js';
import { storeUnavailable } from './one-time.js';

const sha256Hex = async (text: string) =>
  toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));

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

/** The job's part of the exchange's store step: one slot, and this step's retry record if it has one. */
export function jobStep(
  project: CompiledProject,
  job: string,
  record: { key: string; pending: CredentialClaims; ttlMs: number } | undefined,
  mode: 'find' | 'replace' = 'find',
): NonNullable<ExchangeStep['job']> {
  const slot = {
    key: storeKeys.jobSlots(project.name, job),
    limit: project.maxCredentialsPerJob,
    ttlMs: JOB_WINDOW_MS,
  };
  if (!record) return { slot };
  return {
    slot,
    record: { key: record.key, value: JSON.stringify(record.pending), ttlMs: record.ttlMs, mode },
  };
}

/** Takes the job's part on its own (when it could not ride with the token's reservation). */
export async function takeJobStep(
  deps: ExchangeDeps,
  step: NonNullable<ExchangeStep['job']>,
  audit: Partial<AuditEvent>,
): Promise<ExchangeOutcome> {
  try {
    return await runExchangeStep(deps.replay, { job: step });
  } catch {
    throw new BrokerError(
      503,
      'unavailable',
      "The broker cannot count this job's credentials right now; retry shortly.",
      {
        'retry-after': '5',
      },
    ).with({ audit, reason: 'replay store unavailable' });
  }
}

/** The refusal of a job that has all its credentials. */
export function jobLimit(project: CompiledProject, job: string, audit: Partial<AuditEvent>): BrokerError {
  return new BrokerError(
    403,
    'job_limit',
    `This job already obtained ${project.maxCredentialsPerJob} credential(s) for ${project.name}, the project's max_credentials_per_job. Use the credential the job already has, or re-run the job (a new attempt is a new job).`,
  ).with({
    audit,
    reason: `job_limit: ${project.maxCredentialsPerJob} credential(s) already issued to job ${job}`,
  });
}

/** A credential taken but never answered: the slot is the job's again, and no retry finds the record. */
export async function giveBack(deps: ExchangeDeps, step: NonNullable<ExchangeStep['job']>): Promise<void> {
  const { slot, record } = step;
  await Promise.all([
    deps.replay.take(slot.key, -1, slot.limit, slot.ttlMs).catch(() => undefined),
    record && deps.replay.release(record.key).catch(() => undefined),
  ]);
}

/** The credential an earlier attempt of this step minted, when it is still good for this request. */
export async function usableRetry(
  deps: ExchangeDeps,
  stored: string,
  wanted: { target: string; jkt: string | undefined; now: number },
  audit: Partial<AuditEvent>,
): Promise<CredentialClaims | undefined> {
  const previous = JSON.parse(stored) as CredentialClaims;
  if (previous.tgt !== wanted.target || previous.jkt !== wanted.jkt) return undefined;
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
