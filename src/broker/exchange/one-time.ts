/**
 * One token, one attempt: the token's `jti` is reserved before policy and minting, whatever the
 * outcome, together with the owner's exchange-rate window and, when every earlier check is already
 * known to pass, the job's slot and retry record: one store step, one round trip to a shared store.
 */
import type { AuditEvent } from '../audit.js';
import { BrokerError } from '../errors.js';
import type { GitHubClaims } from '../oidc/claims.js';
import { couldEverAllow } from '../policy/evaluate.js';
import { runExchangeStep } from '../store/exchange-step.js';
import { storeKeys, type ExchangeOutcome, type ExchangeStep } from '../store/store.js';
import type { ExchangeDeps } from './handler.js';

/** Reservations outlive the token: its 5 minutes, the verifier's clock tolerance, and a margin. */
const REPLAY_MARGIN_MS = 120_000;

export const storeUnavailable = () =>
  new BrokerError(503, 'unavailable', 'The broker cannot record token use right now; retry shortly.', {
    'retry-after': '5',
  });

/**
 * Reserves the token (after the owner's rate) and takes `job` in the same step; returns the job's
 * outcome (`admitted`, `job_limit` or `retry`), or undefined for a token no rule could allow.
 */
export async function reserveToken(
  deps: ExchangeDeps,
  claims: GitHubClaims,
  audit: Partial<AuditEvent>,
  job?: ExchangeStep['job'],
): Promise<ExchangeOutcome | undefined> {
  const owner = claims.repository_owner_id;
  // Tokens no rule could ever allow (anyone can mint them) take no store entry: the policy
  // denies them, and a replay of one is denied the same way. Their rate counts locally.
  if (!couldEverAllow(deps.config, claims)) {
    try {
      await deps.exchangeRate?.outsider(deps.config, owner);
    } catch (error) {
      throw (error as BrokerError).with({ audit, reason: 'exchange rate limit' });
    }
    return undefined;
  }
  const rate = deps.exchangeRate?.window(deps.config, owner);
  let outcome: ExchangeOutcome;
  try {
    outcome = await runExchangeStep(deps.replay, {
      ...(rate ? { rate: rate.step } : {}),
      token: {
        key: storeKeys.tokenId(claims.iss, claims.jti),
        ttlMs: claims.exp * 1000 - deps.now() + REPLAY_MARGIN_MS,
      },
      ...(job ? { job } : {}),
    });
  } catch {
    throw storeUnavailable().with({ audit, reason: 'replay store unavailable' });
  }
  // A refused rate spent nothing else: a rate-limited token can be retried.
  if (outcome.result === 'rate_limited') throw rate!.refusal().with({ audit, reason: 'exchange rate limit' });
  if (outcome.result === 'replayed') {
    throw new BrokerError(
      401,
      'token_replayed',
      'This OIDC token was already exchanged; request a fresh one.',
    ).with({ audit, reason: 'jti already used' });
  }
  return outcome;
}
