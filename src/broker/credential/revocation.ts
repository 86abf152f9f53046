/**
 * Revocation: `POST /v1/revoke` records a credential's id in the shared store until the credential
 * would have expired anyway; every instance sharing the store refuses it within a second.
 */
import type { RevokeResponse } from '../../shared/wire.js';
import type { Logger } from '../audit.js';
import { verifyCredential, type CredentialClaims, type SigningKeys } from './credential.js';
import { invalidCredential, unavailable, type BrokerError } from '../errors.js';
import { credentialRunUrl } from '../github/job.js';
import { storeKeys, type ReplayStore } from '../store/store.js';

/** How long an instance may trust its own "not revoked" answer: the bound on a revocation's delay. */
const REVOCATION_FRESHNESS_MS = 1_000;
const MAX_REMEMBERED = 10_000;

export interface Revocations {
  revoke(claims: CredentialClaims): Promise<void>;
  /** Refuses a revoked credential (401); answers 503 when the store cannot say (fail closed). */
  check(claims: CredentialClaims): Promise<void>;
}

export function createRevocations(store: ReplayStore, now: () => number): Revocations {
  // Revoked ids are final, so they are remembered until expiry; "not revoked" only for a second.
  const revoked = new Map<string, number>();
  const clearedAt = new Map<string, number>();
  const remember = <V>(map: Map<string, V>, key: string, value: V) => {
    map.delete(key);
    if (map.size >= MAX_REMEMBERED) map.delete(map.keys().next().value!);
    map.set(key, value);
  };
  return {
    async revoke(claims) {
      try {
        await store.put(storeKeys.revoked(claims.cid), '1', Math.max(1, claims.exp - now()));
      } catch {
        // Not recorded: say so and when to retry (the action's post step retries), never a bare 500.
        throw unavailable('The broker cannot record the revocation right now; retry shortly.');
      }
      clearedAt.delete(claims.cid);
      remember(revoked, claims.cid, claims.exp);
    },
    async check(claims) {
      if (revoked.has(claims.cid)) throw revokedError(claims);
      const checked = clearedAt.get(claims.cid);
      if (checked !== undefined && now() - checked < REVOCATION_FRESHNESS_MS) return;
      let value: string | undefined;
      try {
        value = await store.get(storeKeys.revoked(claims.cid));
      } catch {
        throw unavailable('The broker cannot check revocations right now; retry shortly.');
      }
      if (value !== undefined) {
        remember(revoked, claims.cid, claims.exp);
        throw revokedError(claims);
      }
      remember(clearedAt, claims.cid, now());
    },
  };
}

function revokedError(claims: CredentialClaims): BrokerError {
  return invalidCredential('The credential was revoked; a job obtains a new one with a new exchange.').with({
    claims,
    reason: 'credential revoked',
  });
}

/** The credential is the authority to revoke itself; no DPoP proof is needed (see docs/architecture.md). */
function readCredential(request: Request): string | undefined {
  const match = /^(?:Bearer|DPoP) (\S+)$/i.exec(request.headers.get('authorization') ?? '');
  return match?.[1];
}

export async function handleRevoke(
  request: Request,
  deps: {
    keys: SigningKeys;
    revocations: Revocations;
    logger: Logger;
    now: () => number;
    serverUrl: string;
  },
  requestId: string,
): Promise<Response> {
  const credential = readCredential(request);
  if (!credential) throw invalidCredential('Send the credential to revoke as "Authorization: Bearer khd_…".');
  // Signature and expiry only: revoking an already revoked credential succeeds again.
  const claims = await verifyCredential(deps.keys, credential, deps.now());
  await deps.revocations.revoke(claims);
  deps.logger.audit({
    event: 'revoke',
    decision: 'allow',
    reason: 'credential revoked by its holder',
    request_id: requestId,
    credential_id: claims.cid,
    project: claims.pn,
    target: claims.tgt,
    repository: claims.repo,
    repository_id: claims.rid,
    run_id: claims.run,
    run_attempt: claims.att,
    run_url: credentialRunUrl(deps.serverUrl, claims),
  });
  const body: RevokeResponse = { revoked: true };
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  });
}
