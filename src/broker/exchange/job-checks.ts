/**
 * What the job itself must show before a credential is minted: a DPoP proof where the project
 * binds credentials to a key, and (with a github_app) that the job is still running. The proof is
 * checked first, with the other cheap refusals, so that nothing is asked of GitHub for a request
 * that is refused anyway (docs/threat-model.md "GitHub API amplification").
 */
import { EXCHANGE_PATH } from '../../shared/wire.js';
import type { AuditEvent } from '../audit.js';
import { ProofError, verifyProof } from '../credential/dpop.js';
import { BrokerError } from '../errors.js';
import type { GitHubClaims } from '../oidc/claims.js';
import type { CompiledProject } from '../policy/compiled.js';
import type { ExchangeDeps } from './handler.js';

/** Checks the proof; returns the thumbprint of the key a sender-constrained credential is bound to. */
export async function checkProof(
  request: Request,
  deps: ExchangeDeps,
  project: CompiledProject,
  audit: Partial<AuditEvent>,
): Promise<string | undefined> {
  if (project.requireDpop && !request.headers.get('dpop')) {
    throw new BrokerError(
      400,
      'bad_request',
      `Project ${project.name} requires DPoP-bound credentials (require_dpop: true): deploy with the Keyhole action (deploy: true), which holds the key. The official Vercel CLI cannot send DPoP proofs, so credential-only mode (deploy: false) is refused for this project.`,
      // The same challenge as a refused proof: the action reads it to say which input to change.
      { 'www-authenticate': `DPoP algs="ES256", error="invalid_dpop_proof"` },
    ).with({ audit, reason: 'dpop proof missing at exchange' });
  }
  if (!project.requireDpop) return undefined;
  // Sender-constrained projects bind the credential to the key that signed the exchange's proof.
  try {
    return await verifyProof({
      request,
      publicUrl: deps.config.publicUrl!,
      path: EXCHANGE_PATH,
      store: deps.replay,
      now: deps.now,
      status: 400,
    });
  } catch (error) {
    if (error instanceof ProofError)
      throw error.with({ audit, reason: `dpop proof ${error.failure} at exchange` });
    throw error;
  }
}

/** A token lifted from a job that has ended (its request token lives on) gets nothing. */
export async function checkJobRunning(
  deps: ExchangeDeps,
  claims: GitHubClaims,
  project: CompiledProject,
  audit: Partial<AuditEvent>,
): Promise<void> {
  if (!deps.jobStatus) return;
  if (!claims.check_run_id) {
    deps.logger.log(
      'warn',
      'the token has no check_run_id (an older GHES?): the job-running check is skipped',
      {
        repository: claims.repository,
        run_id: claims.run_id,
      },
    );
    return;
  }
  try {
    await deps.jobStatus.atExchange(
      { repository: claims.repository, checkRunId: claims.check_run_id },
      project,
    );
  } catch (error) {
    if (error instanceof BrokerError) throw error.with({ audit });
    throw error;
  }
}
