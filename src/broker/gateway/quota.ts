/** A job's upload budgets: files and bytes counted in the shared store, and the refund of an upload Vercel did not keep. */
import type { CredentialClaims } from '../credential/credential.js';
import { BrokerError } from '../errors.js';
import { JOB_WINDOW_MS } from '../github/job.js';
import { storeKeys } from '../store/store.js';
import type { CallContext, Usage } from './context.js';

/**
 * Whose budget a call spends: the job's, per project, so the several credentials a job may hold for
 * one project share it (and deploying two projects does not). Credentials minted before jobs were
 * recorded fall back to their own id.
 */
export function budgetOwner(claims: CredentialClaims): string {
  return claims.job ? `${claims.pn}:${claims.job}` : claims.cid;
}

/** What the quotas read of a call. */
type QuotaContext = Pick<CallContext, 'config' | 'state' | 'claims' | 'now' | 'store'>;

/** The digests this instance has counted for the call's job; entries of expired jobs are dropped. */
function usageFor(ctx: QuotaContext): Usage {
  const { claims } = ctx;
  const { usage } = ctx.state;
  const owner = budgetOwner(claims);
  let entry = usage.get(owner);
  if (!entry) {
    const now = ctx.now();
    for (const [key, u] of usage) if (u.expires <= now) usage.delete(key);
    entry = { files: new Set(), expires: claims.exp };
    usage.set(owner, entry);
  }
  entry.expires = Math.max(entry.expires, claims.exp);
  return entry;
}

/**
 * Takes one file's share of the job's byte and file budgets (429 past either) and returns the
 * refund for an upload Vercel did not store. One path for /v2/files and the batch.
 */
export async function takeUploadQuota(
  ctx: QuotaContext,
  digest: string,
  size: number,
): Promise<() => Promise<void>> {
  const { limits } = ctx.config;
  const use = usageFor(ctx);
  // Byte and file budgets belong to the job and are counted in the shared store, so several
  // credentials of one job, on any instances, share one budget. A digest is counted once per
  // instance; on several instances it may count twice, which only errs on the strict side.
  const owner = budgetOwner(ctx.claims);
  const budget = async (what: 'bytes' | 'files', amount: number, max: number) => {
    try {
      return await ctx.store.take(storeKeys.uploads(what, owner), amount, max, JOB_WINDOW_MS);
    } catch {
      throw new BrokerError(503, 'unavailable', 'The broker cannot count uploads right now; retry shortly.', {
        'retry-after': '2',
      });
    }
  };
  const isNew = !use.files.has(digest);
  if (isNew) use.files.add(digest);
  if (isNew && (await budget('files', 1, limits.max_files)) === undefined) {
    use.files.delete(digest);
    throw new BrokerError(
      429,
      'quota_exceeded',
      `this job has uploaded ${limits.max_files} files, its limit`,
    );
  }
  if ((await budget('bytes', size, limits.max_upload_bytes)) === undefined) {
    if (isNew) {
      use.files.delete(digest);
      await budget('files', -1, limits.max_files);
    }
    throw new BrokerError(
      429,
      'quota_exceeded',
      `this job may upload at most ${limits.max_upload_bytes} bytes`,
    );
  }
  // Once only: a failed upload may reach both the refusal branch and the catch of its caller,
  // and a second give-back would push the job's shared counters below zero (quota for free).
  let refunded = false;
  return async () => {
    if (refunded) return;
    refunded = true;
    await budget('bytes', -size, limits.max_upload_bytes);
    if (isNew) {
      use.files.delete(digest);
      await budget('files', -1, limits.max_files);
    }
  };
}
