/**
 * "The job must be running": with a github_app, the exchange checks that the job's check run is
 * `in_progress`, and gateway calls check (cached at most `check_cache_seconds`) that it still is. A
 * credential of a job that ended answers 401. When GitHub cannot say, each project chooses between
 * failing closed and a bounded grace; every such decision is logged.
 */
import type { Logger } from '../audit.js';
import type { CompiledProject } from '../policy/compiled.js';
import type { CredentialClaims } from '../credential/credential.js';
import { BrokerError, invalidCredential, unavailable } from '../errors.js';
import { GitHubUnreachableError, type GitHubApp } from './app.js';

const JOB_ENDED_MESSAGE = 'The job that obtained this credential has ended.';
const MAX_JOBS = 10_000;

type State = 'running' | 'ended';

export interface JobRef {
  repository: string;
  checkRunId: string;
}

export interface JobStatusChecker {
  /** At the exchange: refuses (403) a job that is not running; applies `github_unreachable.exchange`. */
  atExchange(job: JobRef, project: CompiledProject): Promise<void>;
  /** On a gateway call: refuses (401) a credential whose job ended; applies `github_unreachable.calls`. */
  onCall(
    claims: CredentialClaims,
    project:
      | { githubUnreachable: Pick<CompiledProject['githubUnreachable'], 'calls' | 'grace_seconds'> }
      | undefined,
  ): Promise<void>;
}

export function createJobStatusChecker(deps: {
  github: GitHubApp;
  cacheMs: number;
  logger: Logger;
  now: () => number;
}): JobStatusChecker {
  const jobs = new Map<string, { state: State; checkedAt: number; runningAt: number }>();
  const inflight = new Map<string, Promise<State>>();

  /** One GitHub request per job at a time, however many calls wait on it. */
  function ask(job: JobRef): Promise<State> {
    const key = `${job.repository.toLowerCase()}#${job.checkRunId}`;
    let pending = inflight.get(key);
    if (!pending) {
      pending = deps.github
        .getRepo(job.repository, `/check-runs/${job.checkRunId}`)
        .then(({ status, body }) => {
          // A check run GitHub does not know is not a running job.
          const running = status === 200 && (body as { status?: unknown }).status === 'in_progress';
          return running ? 'running' : 'ended';
        })
        .finally(() => inflight.delete(key));
      inflight.set(key, pending);
    }
    return pending;
  }

  function remember(key: string, state: State, runningAt: number) {
    jobs.delete(key);
    if (jobs.size >= MAX_JOBS) jobs.delete(jobs.keys().next().value!);
    jobs.set(key, { state, checkedAt: deps.now(), runningAt });
  }

  return {
    async atExchange(job, project) {
      let state: State;
      try {
        state = await ask(job);
      } catch (error) {
        // Grace covers an outage only: a GitHub that refuses the app (not installed, no permission) fails closed.
        const grace =
          error instanceof GitHubUnreachableError && project.githubUnreachable.exchange === 'grace';
        deps.logger.log('warn', 'cannot confirm with GitHub that the job is running', {
          repository: job.repository,
          check_run_id: job.checkRunId,
          decision: grace ? 'allowed by github_unreachable.exchange: grace' : 'refused (fail_closed)',
          reason: describe(error),
        });
        if (grace) return;
        throw unavailable(
          'The broker cannot confirm with GitHub that this job is running; retry shortly.',
          5,
        );
      }
      const key = `${job.repository.toLowerCase()}#${job.checkRunId}`;
      remember(key, state, state === 'running' ? deps.now() : 0);
      if (state !== 'running')
        throw new BrokerError(
          403,
          'job_not_running',
          `The job's check run ${job.checkRunId} is not in progress: credentials are issued only to running jobs.`,
        ).with({ reason: 'job not running at exchange' });
    },

    async onCall(claims, project) {
      if (!claims.crid) return;
      const key = `${claims.repo.toLowerCase()}#${claims.crid}`;
      const known = jobs.get(key);
      const runningAt = Math.max(known?.runningAt ?? 0, claims.iat);
      const ended = () => invalidCredential(JOB_ENDED_MESSAGE).with({ claims, reason: 'job ended' });
      if (known?.state === 'ended') throw ended();
      if (known && deps.now() - known.checkedAt < deps.cacheMs) return;
      let state: State;
      try {
        state = await ask({ repository: claims.repo, checkRunId: claims.crid });
      } catch (error) {
        const policy = project?.githubUnreachable ?? { calls: 'fail_closed', grace_seconds: 0 };
        const withinGrace =
          error instanceof GitHubUnreachableError &&
          policy.calls === 'grace' &&
          deps.now() - runningAt <= policy.grace_seconds * 1000;
        deps.logger.log('warn', 'cannot confirm with GitHub that the job is still running', {
          credential_id: claims.cid,
          repository: claims.repo,
          check_run_id: claims.crid,
          decision: withinGrace
            ? `allowed: within github_unreachable.grace_seconds (${policy.grace_seconds}) of the last confirmation`
            : 'refused',
          reason: describe(error),
        });
        if (withinGrace) return;
        throw unavailable(
          'The broker cannot confirm with GitHub that the job is still running; retry shortly.',
          5,
        ).with({ claims, reason: 'job status unknown (GitHub unreachable)' });
      }
      remember(key, state, state === 'running' ? deps.now() : runningAt);
      if (state === 'ended') throw ended();
    },
  };
}

function describe(error: unknown): string {
  if (error instanceof GitHubUnreachableError) return error.message;
  return error instanceof Error ? error.message : String(error);
}
