/** Typed broker errors with stable codes; the one error funnel in app.ts turns them into responses. */
import type { ErrorCode } from '../shared/wire.js';

export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'BrokerError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export const badRequest = (message: string) => new BrokerError(400, 'bad_request', message);
export const forbidden = (message: string) => new BrokerError(403, 'forbidden', message);
export const invalidCredential = (message = 'The credential is missing, malformed, forged or expired.') =>
  new BrokerError(401, 'invalid_credential', message);
export const notFound = (message = 'The deployment was not found.') =>
  new BrokerError(404, 'not_found', message);
