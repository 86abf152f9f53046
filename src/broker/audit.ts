/** JSON-line logging and audit events; a line never carries a token, a credential, or an upstream secret. */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface AuditEvent {
  event: 'exchange' | 'gateway' | 'revoke';
  decision: 'allow' | 'deny' | 'error';
  reason?: string;
  /** The error code answered (`invalid_token`, `policy_denied`, …) when the decision is not allow. */
  code?: string;
  request_id: string;
  repository?: string;
  repository_id?: string;
  ref?: string;
  environment?: string;
  workflow?: string;
  run_id?: string;
  run_attempt?: string;
  /** The job's page on GitHub, so an admin can open the run that asked and react. */
  run_url?: string;
  sha?: string;
  project?: string;
  target?: string;
  credential_id?: string;
  route?: string;
  status?: number;
  upstream_status?: number;
  bytes?: number;
  duration_ms?: number;
}

export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
  audit(event: AuditEvent): void;
}

export function createLogger(write: (line: string) => void, now: () => Date = () => new Date()): Logger {
  const emit = (record: Record<string, unknown>) =>
    write(JSON.stringify({ time: now().toISOString(), ...record }));
  return {
    log: (level, message, fields) => emit({ level, msg: message, ...fields }),
    audit: (event) => emit({ level: 'info', msg: 'audit', ...event }),
  };
}

export const silentLogger: Logger = { log: () => undefined, audit: () => undefined };
