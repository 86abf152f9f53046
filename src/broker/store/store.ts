/**
 * What broker instances share: one-time reservations (OIDC `jti`s, in-flight creates) and small
 * records with expiry (what each credential created). Memory for one instance, Redis for several.
 */

export interface ReplayStore {
  /** Atomically reserves `key` for `ttlMs`; true for the first caller, false while it is held. */
  reserve(key: string, ttlMs: number): Promise<boolean>;
  /** Gives a reservation back early (a create that failed may be tried again). */
  release(key: string): Promise<void>;
  get(key: string): Promise<string | undefined>;
  put(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Atomically adds `amount` to the counter at `key` when the sum stays within `limit`, and returns
   * the new value; returns undefined and adds nothing when it would not. A new counter expires
   * `ttlMs` after it was created. A negative `amount` gives back what was taken (quotas refunded
   * after a refused upstream call). One primitive for quotas, job limits and rate windows, so every
   * store gives the same guarantee across instances.
   */
  take(key: string, amount: number, limit: number, ttlMs: number): Promise<number | undefined>;
  /**
   * The exchange's store work as one operation (one round trip to a shared store): the owner's rate
   * window, the token's reservation and the job's slot with its retry record, in that order, each
   * only when given (store/exchange-step.ts has the exact rules). Stores that cannot do it in one
   * step leave it out; `runExchangeStep` then composes it from the primitives above.
   */
  exchange?(step: ExchangeStep): Promise<ExchangeOutcome>;
  /** Readiness: resolves when the store answers (a Redis PING); absent for stores that always do. */
  ping?(): Promise<void>;
  close?(): Promise<void>;
}

/** A counter taken by one: the rate window and the job's slots (`take` with amount 1). */
export interface CounterStep {
  key: string;
  limit: number;
  ttlMs: number;
}

/** What one exchange asks of the store; every part is optional, the order is fixed. */
export interface ExchangeStep {
  /** The owner's rate window: past its limit nothing else is taken (`rate_limited`). */
  rate?: CounterStep;
  /** The token's `jti`, reserved for `ttlMs` (`replayed` when held; the rate stays taken). */
  token?: { key: string; ttlMs: number };
  /** The job's slot, and the record a retry of the same step (Idempotency-Key) is answered from. */
  job?: {
    slot: CounterStep;
    /**
     * `find`: a live record is answered (`retry`) and no slot is taken; otherwise, or with
     * `replace` (the record found did not fit the request), the slot is taken and the record written.
     */
    record?: { key: string; value: string; ttlMs: number; mode: 'find' | 'replace' };
  };
}

/** The first refusal, or `admitted` with everything the step asked for taken. */
export type ExchangeOutcome =
  | { result: 'admitted' }
  | { result: 'rate_limited' }
  | { result: 'replayed' }
  | { result: 'job_limit' }
  | { result: 'retry'; record: string };

/**
 * Every key the broker keeps in the store, in one place: a new record or counter is added here, so
 * no two concerns can collide on a prefix and an operator can read what a key in Redis means.
 * Adapters add their own namespace (`keyhole:` on Redis and in Durable Object names).
 */
export const storeKeys = {
  /** An OIDC token's `jti`, reserved for its lifetime: one token, one exchange attempt. */
  tokenId: (issuer: string, jti: string) => `jti:${issuer}:${jti}`,
  /** A DPoP proof's `jti`, per key: one proof, one request. */
  proofId: (jkt: string, jti: string) => `dpop:${jkt}:${jti}`,
  /** The credential an exchange minted, kept for a retry with the same Idempotency-Key. */
  exchangeRetry: (project: string, job: string, keyHash: string) => `jobcred:${project}:${job}:${keyHash}`,
  /** Credentials a job obtained for a project (max_credentials_per_job). */
  jobSlots: (project: string, job: string) => `jobslots:${project}:${job}`,
  /** Exchanges of one repository owner in one minute (exchange_rate_per_owner). */
  exchangeRate: (owner: string, window: number) => `rate:exchange:${owner}:${window}`,
  /** GitHub requests one repository caused in one minute (github_app.max_requests_per_repository_per_minute). */
  githubBudget: (repository: string, window: number) => `github:budget:${repository}:${window}`,
  /** A revoked credential, until it would have expired. */
  revoked: (credentialId: string) => `revoked:${credentialId}`,
  /** Who created a deployment (the alias, clean-up and rollback routes touch only their own). */
  created: (deploymentId: string) => `created:${deploymentId}`,
  /** A create's answer, for a retry of the same credential and body. */
  createRecord: (credentialId: string, bodyDigest: string) => `create:${credentialId}:${bodyDigest}`,
  /** Held while one attempt of a create is in flight. */
  createLock: (record: string) => `lock:${record}`,
  /** A create that ended without knowing whether Vercel made it: look before creating again. */
  createAmbiguous: (record: string) => `ambiguous:${record}`,
  /** A job's uploaded bytes or files (max_upload_bytes, max_files). */
  uploads: (what: 'bytes' | 'files', owner: string) => `upload-${what}:${owner}`,
  /** A job's deployments (max_deployments). */
  deployments: (owner: string) => `deployments:${owner}`,
} as const;
