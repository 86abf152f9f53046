/**
 * "Created by the broker", provable from the deployment alone: every create the gateway forwards
 * carries `keyholeStamp` in its meta, a MAC under the broker's signing key over the project, the
 * target, the job's ref and sha and the create key. Clean-up and rollback act only on deployments
 * whose stamp verifies, so meta that merely looks like Keyhole's (written with the real token)
 * counts for nothing, and no store retention is needed to tell the broker's deployments apart.
 */
import { fromHex, toHex } from '../bytes.js';
import type { SigningKeys } from '../credential/credential.js';

/** The meta keys the stamp covers; client meta starting with `keyhole`/`github` never reaches them. */
export const STAMP_KEY = 'keyholeStamp';
export const STAMP_TARGET_KEY = 'keyholeTarget';
const VERSION = 'v1';

/** What a verified stamp says about its deployment. */
export interface StampFacts {
  projectId: string;
  target: string;
  ref: string;
  sha: string;
  /**
   * False for a second-hand event (workflow_run, pull_request_target…): its ref and sha are the base
   * repository's, not the code deployed, so clean-up never takes them for a branch's previews.
   */
  firstHand: boolean;
}

const encoder = new TextEncoder();

/**
 * The signed message. Domain-separated from credentials (which sign `khd_…`): the same HMAC key
 * serves both, and no credential can ever be mistaken for a stamp or the reverse. Fields are
 * JSON-encoded so that no value can shift a boundary into its neighbour.
 */
const message = (facts: StampFacts, createKey: string) =>
  encoder.encode(
    `keyhole-stamp-${VERSION}\n${JSON.stringify([facts.projectId, facts.target, facts.ref, facts.sha, facts.firstHand, createKey])}`,
  );

/** The stamp's meta entries for a create: `keyholeStamp` = `v1.<kid>.<hex MAC>` and the target it names. */
export async function stampMeta(
  keys: SigningKeys,
  facts: StampFacts,
  createKey: string,
): Promise<Record<string, string>> {
  const signer = keys.keys[0]!;
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', signer.key, message(facts, createKey)));
  return { [STAMP_TARGET_KEY]: facts.target, [STAMP_KEY]: `${VERSION}.${signer.kid}.${toHex(mac)}` };
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/**
 * The facts of a deployment as Vercel answered it, when its stamp verifies under one of the
 * broker's keys (a rotated-in key signs; earlier keys still in the list verify), else undefined.
 * The project is Vercel's `projectId`, never meta; the ref and sha are those the create stamped
 * (`keyholeRef`/`githubCommitSha`, or the base ref and sha of a second-hand event).
 */
export async function verifiedStamp(
  keys: SigningKeys,
  deployment: Record<string, unknown>,
): Promise<StampFacts | undefined> {
  const meta = (deployment.meta ?? {}) as Record<string, unknown>;
  const stamp = text(meta[STAMP_KEY]);
  const match = stamp ? /^v1\.([A-Za-z0-9]{1,16})\.([0-9a-f]{64})$/.exec(stamp) : null;
  const key = match ? keys.keys.find((k) => k.kid === match[1]) : undefined;
  const firstHand = text(meta.keyholeRef) !== undefined;
  const facts = {
    projectId: text(deployment.projectId),
    target: text(meta[STAMP_TARGET_KEY]),
    ref: firstHand ? text(meta.keyholeRef) : text(meta.keyholeBaseRef),
    sha: firstHand ? text(meta.githubCommitSha) : text(meta.keyholeBaseSha),
    firstHand,
  };
  const createKey = text(meta.keyholeCreateKey);
  if (!match || !key || createKey === undefined) return undefined;
  if (!facts.projectId || !facts.target || !facts.ref || !facts.sha) return undefined;
  const complete = facts as StampFacts;
  const valid = await crypto.subtle.verify(
    'HMAC',
    key.key,
    fromHex(match[2]!) as BufferSource,
    message(complete, createKey),
  );
  if (!valid) return undefined;
  // Vercel's own view of the target must agree with the stamped one: production is production.
  if ((deployment.target === 'production') !== (complete.target === 'production')) return undefined;
  return complete;
}
