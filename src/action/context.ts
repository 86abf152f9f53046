/**
 * What the run is about, read once from the runner's environment and GitHub's event payload: the
 * pull request, the branch and commit, and for `workflow_run` the run that triggered this one.
 */
import { readRunnerFile } from './safe-fs.js';

/** GitHub caps webhook payloads at 25 MB; the event file is one of them. */
const MAX_EVENT_BYTES = 25 * 1024 * 1024;

export interface TriggeringRun {
  id: number;
  /** The commit the triggering run built (for a fork pull request, the fork's head commit). */
  headSha: string;
  headBranch?: string;
  /** owner/name of the repository the head commit lives in (a fork's, for fork pull requests). */
  headRepository?: string;
  event?: string;
  /** GitHub lists pull requests here only for same-repository branches, never for forks. */
  pullRequests: number[];
}

export interface RunContext {
  eventName: string;
  repository: string;
  /** The pull request number when the event names one directly. */
  pr?: number;
  branch?: string;
  sha?: string;
  /** The commit the pull request's author pushed (its head), else the run's commit: what GitHub links deployments to. */
  headSha?: string;
  /** Set for `workflow_run` events. */
  workflowRun?: TriggeringRun;
}

function readPayload(env: NodeJS.ProcessEnv): Record<string, unknown> {
  if (!env.GITHUB_EVENT_PATH) return {};
  try {
    const payload = JSON.parse(
      readRunnerFile(env.GITHUB_EVENT_PATH, MAX_EVENT_BYTES)?.toString('utf8') ?? '',
    ) as unknown;
    return typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const record = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
const positive = (value: unknown) =>
  typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;

export function readRunContext(env: NodeJS.ProcessEnv): RunContext {
  const payload = readPayload(env);
  const eventName = env.GITHUB_EVENT_NAME ?? '';
  const pull = record(payload.pull_request);
  const run = record(payload.workflow_run);
  const context: RunContext = {
    eventName,
    repository: env.GITHUB_REPOSITORY ?? '',
    pr: positive(pull.number),
    branch: text(env.GITHUB_HEAD_REF) ?? text(record(pull.head).ref) ?? text(env.GITHUB_REF_NAME),
    sha: text(env.GITHUB_SHA),
    headSha: text(record(pull.head).sha) ?? text(env.GITHUB_SHA),
  };
  if (eventName === 'workflow_run' && positive(run.id) && text(run.head_sha)) {
    const workflowRun: TriggeringRun = {
      id: run.id as number,
      headSha: run.head_sha as string,
      headBranch: text(run.head_branch),
      headRepository: text(record(run.head_repository).full_name),
      event: text(run.event),
      pullRequests: (Array.isArray(run.pull_requests) ? run.pull_requests : [])
        .map((p) => positive(record(p).number))
        .filter((n): n is number => n !== undefined),
    };
    context.workflowRun = workflowRun;
    context.branch = workflowRun.headBranch;
    context.sha = workflowRun.headSha;
    context.headSha = workflowRun.headSha;
    context.pr = workflowRun.pullRequests.length === 1 ? workflowRun.pullRequests[0] : undefined;
  }
  return context;
}
