/** The GitHub Actions OIDC claims the broker reads, and only from a verified payload. */

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
export const GITHUB_JWKS_URL = 'https://token.actions.githubusercontent.com/.well-known/jwks';

/**
 * Claims every accepted token must carry (jose `requiredClaims`). `sub`, `actor`, `workflow` and
 * `head_ref` may be present but are never used for a decision: they are chosen by whoever writes
 * the workflow or opens the pull request (research/oidc.md §7.2 #3, #9).
 */
export const REQUIRED_CLAIMS = [
  'exp',
  'iat',
  'nbf',
  'jti',
  'sub',
  'repository',
  'repository_id',
  'repository_owner',
  'repository_owner_id',
  'ref',
  'ref_type',
  'sha',
  'event_name',
  'runner_environment',
  'run_id',
  'run_attempt',
  'workflow_ref',
  'job_workflow_ref',
] as const;

export interface GitHubClaims {
  iss: string;
  jti: string;
  exp: number;
  iat: number;
  repository: string;
  repository_id: string;
  repository_owner: string;
  repository_owner_id: string;
  ref: string;
  ref_type: string;
  sha: string;
  event_name: string;
  runner_environment: string;
  run_id: string;
  run_attempt: string;
  workflow_ref: string;
  job_workflow_ref: string;
  environment?: string;
  ref_protected?: string;
  /** The job's check run id, which is also its job id in GitHub's URLs; absent on older GHES. */
  check_run_id?: string;
}

/** Claims an admin can paste into `policy explain`: the decision-relevant subset, no signature. */
export type PolicyClaims = Omit<GitHubClaims, 'iss' | 'jti' | 'exp' | 'iat'> & Partial<GitHubClaims>;
