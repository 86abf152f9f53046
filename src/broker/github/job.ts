/** Which GitHub Actions job a token or credential belongs to: the unit of per-job limits, quotas and audit. */
import { toHex } from '../bytes.js';
import type { CredentialClaims } from '../credential/credential.js';
import type { GitHubClaims } from '../oidc/claims.js';

/**
 * How long a job's counts (credentials, uploaded bytes and files) are kept: longer than any
 * GitHub-hosted job (6 h). A self-hosted job running longer could start counting again; the
 * github_app check (the job must still be running) does not depend on it.
 */
export const JOB_WINDOW_MS = 24 * 3600_000;

/**
 * A job is its repository id, run id, run attempt and check run id (GitHub's job id, in OIDC tokens
 * since 2025). GHES versions without `check_run_id` fall back to the job's workflow file
 * (`job_workflow_ref`): jobs of one workflow file in one run attempt (a matrix, two jobs calling the
 * same reusable workflow) then share one count — raise `max_credentials_per_job` to their number.
 */
export async function jobKey(claims: GitHubClaims): Promise<string> {
  const base = `${claims.repository_id}.${claims.run_id}.${claims.run_attempt}`;
  if (claims.check_run_id) return `${base}.${claims.check_run_id}`;
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(claims.job_workflow_ref));
  return `${base}.w${toHex(new Uint8Array(digest)).slice(0, 16)}`;
}

/** The run (or, with a check run id, the job) an admin opens to see who asked: audit lines carry it. */
export function runUrl(
  serverUrl: string,
  job: { repository: string; run_id: string; run_attempt: string; check_run_id?: string | undefined },
): string {
  const run = `${serverUrl.replace(/\/+$/, '')}/${job.repository}/actions/runs/${job.run_id}`;
  return job.check_run_id ? `${run}/job/${job.check_run_id}` : `${run}/attempts/${job.run_attempt}`;
}

export function credentialRunUrl(serverUrl: string, claims: CredentialClaims): string {
  return runUrl(serverUrl, {
    repository: claims.repo,
    run_id: claims.run,
    run_attempt: claims.att,
    check_run_id: claims.crid,
  });
}
