/**
 * The credential dies with the step: revoked by the main step once the deploy is done, and by the
 * `post:` step whatever the outcome (success, failure, cancel). A failed revocation only warns: the
 * credential still expires on its own, and the job's result must not depend on the clean-up.
 */
import { REVOKE_PATH } from '../shared/wire.js';
import { fetchRetrying, type RetryPolicy } from './retry.js';
import { readCredential, type StateReader } from './state.js';

export async function revokeCredential(
  brokerUrl: string,
  credential: string,
  deps: { fetch: typeof fetch; retry: RetryPolicy },
): Promise<void> {
  // Revocation needs no DPoP proof (the post step runs in a new process, without the key); the
  // credential itself is the authority to end itself.
  const response = await fetchRetrying(
    deps.fetch,
    'revoke',
    { ...deps.retry, attempts: Math.min(deps.retry.attempts, 3) },
    `${brokerUrl}${REVOKE_PATH}`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, accept: 'application/json' },
      signal: AbortSignal.timeout(10_000),
    },
  );
  const body = (await response.json().catch(() => undefined)) as { revoked?: unknown } | undefined;
  if (!response.ok || body?.revoked !== true)
    throw new Error(`the broker answered ${response.status} to the revocation`);
}

export interface PostDeps extends StateReader {
  fetch: typeof fetch;
  retry: RetryPolicy;
  info(message: string): void;
  warning(message: string): void;
  now: () => number;
}

/** The `post:` step: revokes what the main step left, if anything; never fails the job. */
export async function runPost(deps: PostDeps): Promise<void> {
  const { brokerUrl, credential, expiresAt } = readCredential(deps);
  if (!credential || !brokerUrl) {
    deps.info('Keyhole: no credential left to revoke.');
    return;
  }
  if (expiresAt <= deps.now()) {
    deps.info('Keyhole: the credential has already expired.');
    return;
  }
  try {
    await revokeCredential(brokerUrl, credential, deps);
    deps.info('Keyhole: credential revoked.');
  } catch (error) {
    deps.warning(
      `Keyhole could not revoke the credential (${error instanceof Error ? error.message : String(error)}); it stays valid until it expires at ${new Date(expiresAt).toISOString()}.`,
    );
  }
}
