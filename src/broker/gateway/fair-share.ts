/**
 * Fair shares of what every repository shares in one broker process: buffered body bytes and calls
 * held in flight, capped per job, per repository and per repository owner (docs/operations.md,
 * "Fair shares"), so one owner's matrix of jobs always leaves another owner's deploy its share.
 */
import type { CredentialClaims } from '../credential/credential.js';
import { tooMany } from '../errors.js';
import type { ByteShare } from '../limits/byte-budget.js';
import type { CallContext, GatewayLimits } from './context.js';
import { budgetOwner } from './quota.js';

/** The repository (by id: a rename keeps its share) and the owner (by name, as GitHub spells it, any case) of a credential's job. */
const repositoryKey = (claims: CredentialClaims) => `repo:${claims.rid}`;
const ownerKey = (claims: CredentialClaims) => `owner:${claims.repo.split('/')[0]!.toLowerCase()}`;

/**
 * The byte shares of each scope. Unset keys take a fraction of the total, never less than one create
 * body: an owner a quarter (so four owners can each hold their whole share at once) and a repository
 * an eighth (an owner's repositories do not starve each other); a job keeps its half.
 */
export function byteShares(limits: GatewayLimits) {
  const total = limits.max_buffered_body_bytes;
  const atLeastOneBody = (bytes: number) => Math.max(Math.floor(bytes), limits.max_body_bytes);
  return {
    job: atLeastOneBody(total / 2),
    repository: limits.max_buffered_body_bytes_per_repository ?? atLeastOneBody(total / 8),
    owner: limits.max_buffered_body_bytes_per_owner ?? atLeastOneBody(total / 4),
  };
}

/** The shares a call's buffered bytes count against, job first (the narrowest refusal is the one reported). */
export function bufferedShares(ctx: Pick<CallContext, 'config' | 'claims'>): ByteShare[] {
  const max = byteShares(ctx.config.limits);
  return [
    { key: `job:${budgetOwner(ctx.claims)}`, max: max.job, who: "This job's" },
    { key: repositoryKey(ctx.claims), max: max.repository, who: "This repository's jobs'" },
    { key: ownerKey(ctx.claims), max: max.owner, who: `This repository owner's` },
  ];
}

type SlotKind = 'uploads' | 'creates' | 'batches';

/**
 * Takes a slot for one upload, create or batch call: first the repository's and the owner's held
 * counts (429 at once past them: waiting there would let many jobs' queues hold connections), then
 * the job's fair queue. Resolves with one release for all three.
 */
export async function acquireSlot(
  ctx: Pick<CallContext, 'config' | 'state' | 'claims'>,
  kind: SlotKind,
  jobLimit: number,
): Promise<() => void> {
  const { limits } = ctx.config;
  const { state, claims } = ctx;
  // A batch is one upload call at these levels; its frames take the job's upload slots.
  const creates = kind === 'creates';
  const held = creates ? state.heldCreates : state.heldUploads;
  const what = creates ? 'deployment creates' : 'uploads';
  const perRepository = creates
    ? limits.max_inflight_creates_per_repository
    : limits.max_inflight_uploads_per_repository;
  const perOwner = creates ? limits.max_inflight_creates_per_owner : limits.max_inflight_uploads_per_owner;
  const refusal = (whose: string, limit: number) => () =>
    tooMany(
      `${whose} already hold ${limit} ${what} in flight or waiting, their limit in this broker; retry when one finishes`,
      2,
    );
  const releaseRepository = held.take(
    repositoryKey(claims),
    perRepository,
    refusal(`this repository's jobs (${claims.repo})`, perRepository),
  );
  let releaseOwner: (() => void) | undefined;
  try {
    releaseOwner = held.take(
      ownerKey(claims),
      perOwner,
      refusal(`the jobs of this repository owner's repositories`, perOwner),
    );
    const limit = {
      uploads: state.inflightUploads,
      creates: state.inflightCreates,
      batches: state.inflightBatches,
    }[kind];
    const releaseJob = await limit.acquire(budgetOwner(claims), jobLimit);
    return () => {
      releaseJob();
      releaseOwner!();
      releaseRepository();
    };
  } catch (error) {
    releaseOwner?.();
    releaseRepository();
    throw error;
  }
}
