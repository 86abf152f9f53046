/**
 * "The job must be running": with a github_app, the exchange checks that the job's check run is
 * `in_progress`, and gateway calls check (cached at most `check_cache_seconds`) that it still is. A
 * credential of a job that ended answers 401. When GitHub cannot say, each project chooses between
 * failing closed and a bounded grace; every such decision is logged. GitHub's rate limit is shared by
 * every repository of the installation, so what is known is remembered (a job that ended is never
 * asked about again, a running one at most every `check_cache_seconds`, at the exchange as on
 * calls) and each repository may spend only its own budget of requests a minute.
 */
import type { Logger } from '../audit.js';
import type { CompiledProject } from '../policy/compiled.js';
import type { CredentialClaims } from '../credential/credential.js';
import { BrokerError, invalidCredential, unavailable } from '../errors.js';
import { storeKeys, type ReplayStore } from '../store/store.js';
import { GitHubUnreachableError, type GitHubApp, type GitHubObserver } from './app.js';

const JOB_ENDED_MESSAGE = 'The job that obtained this credential has ended.';
const MAX_JOBS = 10_000;

type State = 'running' | 'ended';
/** `queued`: not running yet, and not remembered as ended either (it may start). */
type Answer = State | 'queued';

const BUDGET_WINDOW_MS = 60_000;

/** This repository spent its GitHub budget for this minute: unreachable until the next one. */
export class GitHubBudgetError extends GitHubUnreachableError {
  constructor(repository: string, perMinute: number, retryAfterSeconds: number) {
    super(
      `${repository} spent its budget of ${perMinute} GitHub requests a minute (github_app.max_requests_per_repository_per_minute)`,
      retryAfterSeconds,
    );
    this.name = 'GitHubBudgetError';
  }
}

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
  /** The store every instance shares: the per-repository budget is counted there, fleet-wide. */
  store: ReplayStore;
  /** GitHub requests one repository may cause a minute (`github_app.max_requests_per_repository_per_minute`). */
  budgetPerMinute: number;
  observe?: GitHubObserver;
}): JobStatusChecker {
  const jobs = new Map<string, { state: State; checkedAt: number; runningAt: number }>();
  const inflight = new Map<string, Promise<Answer>>();
  const spend = repositoryBudget(deps);

  /** One GitHub request per job at a time, however many calls wait on it, within the repository's budget. */
  function ask(job: JobRef): Promise<Answer> {
    const key = `${job.repository.toLowerCase()}#${job.checkRunId}`;
    let pending = inflight.get(key);
    if (!pending) {
      pending = spend(job.repository.toLowerCase())
        .then(() => deps.github.getRepo(job.repository, `/check-runs/${job.checkRunId}`))
        .then(({ status, body }): Answer => {
          const state = status === 200 ? (body as { status?: unknown }).status : undefined;
          if (state === 'in_progress') return 'running';
          // Queued is not running yet; a check run GitHub does not know, or completed, has ended.
          return state === 'queued' ? 'queued' : 'ended';
        })
        .finally(() => inflight.delete(key));
      inflight.set(key, pending);
    }
    return pending;
  }

  const notRunning = (job: JobRef) =>
    new BrokerError(
      403,
      'job_not_running',
      `The job's check run ${job.checkRunId} is not in progress: credentials are issued only to running jobs.`,
    ).with({ reason: 'job not running at exchange' });

  function remember(key: string, state: State, runningAt: number) {
    jobs.delete(key);
    if (jobs.size >= MAX_JOBS) jobs.delete(jobs.keys().next().value!);
    jobs.set(key, { state, checkedAt: deps.now(), runningAt });
  }

  return {
    async atExchange(job, project) {
      const key = `${job.repository.toLowerCase()}#${job.checkRunId}`;
      // What is known is not asked again: an ended job never, a running one within the cache time.
      const known = jobs.get(key);
      if (known?.state === 'ended') throw notRunning(job);
      if (known?.state === 'running' && deps.now() - known.checkedAt < deps.cacheMs) return;
      let state: Answer;
      try {
        state = await ask(job);
      } catch (error) {
        // Grace covers an outage only: a GitHub that refuses the app (not installed, no permission)
        // fails closed, and so does a spent budget (the repository's own traffic, maybe hostile).
        const grace =
          error instanceof GitHubUnreachableError &&
          !(error instanceof GitHubBudgetError) &&
          project.githubUnreachable.exchange === 'grace';
        deps.logger.log('warn', 'cannot confirm with GitHub that the job is running', {
          repository: job.repository,
          check_run_id: job.checkRunId,
          decision: grace ? 'allowed by github_unreachable.exchange: grace' : 'refused (fail_closed)',
          reason: describe(error),
        });
        if (grace) return;
        throw unavailable(
          'The broker cannot confirm with GitHub that this job is running; retry shortly.',
          retryAfterOf(error),
        );
      }
      if (state !== 'queued') remember(key, state, state === 'running' ? deps.now() : 0);
      if (state !== 'running') throw notRunning(job);
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
        // A credential was issued to a running job: queued again means something is off; it ended.
        const answer = await ask({ repository: claims.repo, checkRunId: claims.crid });
        state = answer === 'running' ? 'running' : 'ended';
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
          retryAfterOf(error),
        ).with({ claims, reason: 'job status unknown (GitHub unreachable)' });
      }
      remember(key, state, state === 'running' ? deps.now() : runningAt);
      if (state === 'ended') throw ended();
    },
  };
}

/**
 * Each repository's GitHub budget, counted in the shared store in one-minute windows: `spend` takes
 * one request from it or refuses (GitHubBudgetError), logging a spent budget once per window.
 */
function repositoryBudget(deps: {
  store: ReplayStore;
  budgetPerMinute: number;
  logger: Logger;
  now: () => number;
  observe?: GitHubObserver;
}): (repository: string) => Promise<void> {
  /** The last budget window each repository was told about, so a spent budget is logged once. */
  const spentLogged = new Map<string, number>();

  /** Takes one request from the repository's budget of this minute, or refuses without asking GitHub. */
  return async function spend(repository: string): Promise<void> {
    const now = deps.now();
    const window = Math.floor(now / BUDGET_WINDOW_MS);
    const key = storeKeys.githubBudget(repository, window);
    // Two windows' life: a counter outlives its minute whatever the clocks of the instances say.
    if ((await deps.store.take(key, 1, deps.budgetPerMinute, 2 * BUDGET_WINDOW_MS)) !== undefined) return;
    deps.observe?.spared('budget');
    const retryAfter = Math.max(1, Math.ceil(((window + 1) * BUDGET_WINDOW_MS - now) / 1000));
    if (spentLogged.get(repository) !== window) {
      if (spentLogged.size >= MAX_JOBS) spentLogged.clear();
      spentLogged.set(repository, window);
      deps.logger.log('warn', 'a repository spent its GitHub request budget for this minute', {
        repository,
        budget_per_minute: deps.budgetPerMinute,
        retry_after_seconds: retryAfter,
      });
    }
    throw new GitHubBudgetError(repository, deps.budgetPerMinute, retryAfter);
  };
}

/** GitHub's or the budget's own wait when there is one; 5 s for an outage. */
const retryAfterOf = (error: unknown) =>
  (error instanceof GitHubUnreachableError ? error.retryAfterSeconds : undefined) ?? 5;

function describe(error: unknown): string {
  if (error instanceof GitHubUnreachableError) return error.message;
  return error instanceof Error ? error.message : String(error);
}
