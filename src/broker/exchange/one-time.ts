/**
 * One token, one attempt: the token's `jti` is reserved before policy and minting, whatever the
 * outcome, together with the owner's exchange-rate window.
 */
import type { AuditEvent } from '../audit.js';
import { BrokerError } from '../errors.js';
import type { GitHubClaims } from '../oidc/claims.js';
import { couldEverAllow } from '../policy/evaluate.js';
import { storeKeys } from '../store/store.js';
import type { ExchangeDeps } from './handler.js';

/** Reservations outlive the token: its 5 minutes, the verifier's clock tolerance, and a margin. */
const REPLAY_MARGIN_MS = 120_000;

export const storeUnavailable = () =>
  new BrokerError(503, 'unavailable', 'The broker cannot record token use right now; retry shortly.', {
    'retry-after': '5',
  });

export async function reserveToken(
  deps: ExchangeDeps,
  claims: GitHubClaims,
  audit: Partial<AuditEvent>,
): Promise<void> {
  // Tokens no rule could ever allow (anyone can mint them) take no store entry: the policy
  // denies them, and a replay of one is denied the same way.
  const insider = couldEverAllow(deps.config, claims);
  // The owner's rate window and the token's jti are asked at once: one round trip to a shared
  // store instead of two in a row (docs/benchmarks.md). A refused rate gives the jti back, so a
  // rate-limited token can still be retried, as when the rate was asked first.
  const jtiKey = storeKeys.tokenId(claims.iss, claims.jti);
  const [rate, reserved] = await Promise.allSettled([
    deps.limitExchange?.(deps.config, claims.repository_owner_id, insider),
    insider
      ? deps.replay.reserve(jtiKey, claims.exp * 1000 - deps.now() + REPLAY_MARGIN_MS)
      : Promise.resolve(true),
  ]);
  if (rate.status === 'rejected') {
    if (insider && reserved.status === 'fulfilled' && reserved.value)
      await deps.replay.release(jtiKey).catch(() => undefined);
    if (rate.reason instanceof BrokerError) throw rate.reason.with({ audit, reason: 'exchange rate limit' });
    throw storeUnavailable().with({ audit, reason: 'replay store unavailable' });
  }
  if (reserved.status === 'rejected')
    throw storeUnavailable().with({ audit, reason: 'replay store unavailable' });
  if (!reserved.value) {
    throw new BrokerError(
      401,
      'token_replayed',
      'This OIDC token was already exchanged; request a fresh one.',
    ).with({ audit, reason: 'jti already used' });
  }
}
