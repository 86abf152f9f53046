/** The job `npm run try` plays: claims from a file and flags, with what the config's rules pin filled in where the user left it open. */
import { readFileSync } from 'node:fs';
import { defaultClaims, type JobClaims } from '../github-oidc.js';
import { UsageError, type TryArgs } from './args.js';
import type { ConfigProject } from './setup.js';
import type { WorkflowJob } from './workflow.js';

/** The job's check run: in progress on the local GitHub, so a github_app config sees a running job. */
export const CHECK_RUN_ID = '1';

/** Claims the local issuer sets itself (a token's own iss, aud and times), never taken from a file. */
const MINTED = ['iss', 'aud', 'exp', 'iat', 'nbf', 'jti'];

function readClaimsFile(file: string): JobClaims {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(
      `--claims ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new UsageError(`--claims ${file}: must be a JSON object of claims (a decoded GitHub OIDC token)`);
  return Object.fromEntries(
    Object.entries(parsed as Record<string, unknown>)
      .filter(([key]) => !MINTED.includes(key))
      .map(([key, value]) => [key, String(value)]),
  );
}

/** GitHub's `sub`: environment first, then pull_request, then the ref. */
const subjectOf = (c: JobClaims) =>
  c.environment
    ? `repo:${c.repository}:environment:${c.environment}`
    : c.event_name === 'pull_request'
      ? `repo:${c.repository}:pull_request`
      : `repo:${c.repository}:ref:${c.ref}`;

export interface PlayedJob {
  claims: JobClaims;
  /** Where a value came from when the user did not give it, for the user to read. */
  notes: string[];
}

/**
 * The job's claims: the --claims file, then the flags, then the workflow file; the repository and
 * its immutable ids default to those of the first rule for the target (what a job of that
 * repository carries), and job_workflow_ref to the workflow the rule pins when none was named.
 */
export function jobClaims(
  args: TryArgs,
  project: ConfigProject,
  target: string,
  workflow?: WorkflowJob,
): PlayedJob {
  const notes: string[] = [];
  const file = args.claims ? readClaimsFile(args.claims) : {};
  const rules = project.rules.filter(
    (r) => !Array.isArray(r.targets) || r.targets.map(String).includes(target),
  );
  const repository = args.repository ?? (file.repository as string | undefined);
  const rule =
    rules.find((r) => String(r.repository).toLowerCase() === (repository ?? '').toLowerCase()) ??
    (repository ? undefined : (rules[0] ?? project.rules[0]));
  const repo = repository ?? (typeof rule?.repository === 'string' ? rule.repository : 'acme/app');
  if (!repository) notes.push(`repository ${repo} (the rule's; --repository to change)`);
  const event = args.event ?? (file.event_name as string | undefined) ?? workflow?.event ?? 'push';
  // A pull_request job's ref is its merge ref (pull request 1 of the local GitHub).
  const ref =
    args.ref ??
    (file.ref as string | undefined) ??
    (event.startsWith('pull_request') ? 'refs/pull/1/merge' : 'refs/heads/main');
  const claims: JobClaims = { ...file, repository: repo, ref, check_run_id: CHECK_RUN_ID };
  claims.repository_owner ??= repo.split('/')[0];
  if (claims.repository_id === undefined && rule?.repository_id !== undefined)
    claims.repository_id = String(rule.repository_id);
  if (claims.repository_owner_id === undefined && rule?.repository_owner_id !== undefined)
    claims.repository_owner_id = String(rule.repository_owner_id);
  claims.event_name = event;
  const environment = args.environment ?? (file.environment as string | undefined) ?? workflow?.environment;
  if (environment) claims.environment = environment;
  if (workflow) {
    claims.job_workflow_ref = `${repo}/${workflow.file}@${ref}`;
    claims.workflow_ref = claims.job_workflow_ref;
  } else if (file.job_workflow_ref === undefined && Array.isArray(rule?.workflows) && rule.workflows.length) {
    // A job of the workflow the rule pins carries that file at its own ref.
    const pinned = String(rule.workflows[0]).replace(/@.*$/, `@${ref}`);
    claims.job_workflow_ref = claims.workflow_ref = pinned;
    notes.push(`job_workflow_ref ${pinned} (the workflow the rule pins; --workflow to use yours)`);
  }
  if (args.claims === undefined || args.repository || args.ref || args.environment || args.event)
    claims.sub = subjectOf(claims);
  claims.ref_type = ref.startsWith('refs/tags/') ? 'tag' : 'branch';
  return { claims: defaultClaims(claims), notes };
}
