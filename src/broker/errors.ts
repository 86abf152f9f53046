/** Typed broker errors with stable codes; the one error funnel in app.ts turns them into responses. */
import type { ErrorCode } from '../shared/wire.js';
import type { AuditEvent } from './audit.js';
import type { CredentialClaims } from './credential/credential.js';

/** What the error funnel writes into a refusal's audit line; none of it reaches the answer. */
export interface RefusalContext {
  /** The verified credential of the call (gateway calls, revocations, job checks). */
  claims?: CredentialClaims;
  /** The gateway route the call matched. */
  route?: string;
  /** Why, in the audit's words, where the caller's message says less; the message otherwise. */
  reason?: string;
  /** The exchange's audit fields known at the refusal (its request, the verified GitHub claims). */
  audit?: Partial<AuditEvent>;
}

export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Declared like jose's `claim`/`reason`: set through `with`, read by the funnel, never sent. */
  claims?: CredentialClaims;
  route?: string;
  reason?: string;
  audit?: Partial<AuditEvent>;

  constructor(status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'BrokerError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }

  /**
   * Adds what the audit line needs and returns the error, to throw: `throw refusal.with({ reason })`.
   * A reason given earlier, closer to the check that refused, is kept; audit fields are merged.
   */
  with(context: RefusalContext): this {
    if (context.claims) this.claims = context.claims;
    if (context.route) this.route = context.route;
    if (context.reason !== undefined && this.reason === undefined) this.reason = context.reason;
    if (context.audit) this.audit = { ...this.audit, ...context.audit };
    return this;
  }
}

export const badRequest = (message: string) => new BrokerError(400, 'bad_request', message);
export const forbidden = (message: string) => new BrokerError(403, 'forbidden', message);
export const invalidCredential = (message = 'The credential is missing, malformed, forged or expired.') =>
  new BrokerError(401, 'invalid_credential', message);
export const notFound = (message = 'The deployment was not found.') =>
  new BrokerError(404, 'not_found', message);
/** Over a rate or an in-flight cap: retry after the given seconds. */
export const tooMany = (message: string, retryAfterSeconds: number) =>
  new BrokerError(429, 'rate_limited', message, { 'retry-after': String(Math.max(1, retryAfterSeconds)) });
/** The broker cannot decide right now (its store, GitHub): retry shortly. */
export const unavailable = (message: string, retryAfterSeconds = 2) =>
  new BrokerError(503, 'unavailable', message, { 'retry-after': String(retryAfterSeconds) });
