/** The gateway as a deploy calls it: the @vercel/sdk client, and its answers as values, retries or DeployErrors. */
import { VercelCore } from '@vercel/sdk/core.js';
import { HTTPClient } from '@vercel/sdk/lib/http.js';
import { ResponseValidationError } from '@vercel/sdk/models/responsevalidationerror.js';
import { VercelError } from '@vercel/sdk/models/vercelerror.js';
import { HTTPClientError } from '@vercel/sdk/models/httpclienterrors.js';
import { isErrorBody } from '../shared/wire.js';
import { DeployError, type DeployDeps, type DeployTarget } from './deployment.js';
import { RETRYABLE_STATUS, RetryableError, retryableAnswer } from './retry.js';

/** What every call of one deploy shares: where it goes, with which credential, and the SDK client. */
export interface DeployClient {
  settings: DeployTarget;
  deps: DeployDeps;
  core: VercelCore;
  auth: { authorization: string };
}

export function createDeployClient(settings: DeployTarget, deps: DeployDeps): DeployClient {
  const core = new VercelCore({
    bearerToken: settings.credential,
    serverURL: settings.brokerUrl,
    httpClient: new HTTPClient({ fetcher: (input, init) => deps.fetch(input, init) }),
  });
  return { settings, deps, core, auth: { authorization: `Bearer ${settings.credential}` } };
}

export function describeError(status: number, body: unknown): string {
  if (isErrorBody(body)) return `${status} ${body.error.code}: ${body.error.message}`;
  return `HTTP ${status}`;
}

/** SDK results become values, retryable errors or a DeployError with the broker's own words. */
export function unwrap<T>(what: string, result: { ok: true; value: T } | { ok: false; error: unknown }): T {
  if (result.ok) return result.value;
  const error = result.error;
  // A 2xx answer whose shape the SDK's schema does not know (a newer API, an emulator) is still
  // an answer: the fields the action reads are checked where they are used.
  if (
    error instanceof ResponseValidationError &&
    error.statusCode < 300 &&
    typeof error.rawValue === 'object' &&
    error.rawValue !== null
  ) {
    return error.rawValue as T;
  }
  if (error instanceof VercelError) {
    if (RETRYABLE_STATUS.has(error.statusCode))
      throw retryableAnswer(`${what}: `, error.statusCode, error.headers);
    let body: unknown;
    try {
      body = JSON.parse(error.body);
    } catch {
      body = undefined;
    }
    throw new DeployError(`${what} failed: ${describeError(error.statusCode, body)}`);
  }
  if (error instanceof HTTPClientError) throw new RetryableError(`${what}: ${error.message}`);
  throw new DeployError(`${what} failed: ${error instanceof Error ? error.message : String(error)}`);
}
