/** What each step of the main run is handed: injected deps, parsed settings, the record it fills in. */
import type { RunContext } from './context.js';
import type { Deployment } from './deployment.js';
import type { EarlyToken } from './early-token.js';
import type { GitHubApi } from './github.js';
import type { GitHubDeploymentRun } from './github-deployment.js';
import type { Settings } from './inputs.js';
import type { Report } from './report.js';
import type { RetryPolicy } from './retry.js';
import type { StateWriter } from './state.js';

export interface ActionCore extends StateWriter {
  /** Read by inputs.ts only. */
  getInput(name: string): string;
  setOutput(name: string, value: string): void;
  setSecret(value: string): void;
  setFailed(message: string): void;
  exportVariable(name: string, value: string): void;
  info(message: string): void;
  warning(message: string): void;
  /** Relays foreign lines (a build log) as data between stop-commands markers (relay.ts). */
  relay(lines: readonly string[]): void;
  startGroup(name: string): void;
  endGroup(): void;
  getIDToken(audience: string): Promise<string>;
  writeSummary(markdown: string): Promise<void>;
}

export interface ActionDeps {
  core: ActionCore;
  env: NodeJS.ProcessEnv;
  fetch: typeof fetch;
  retry: RetryPolicy;
  signal: AbortSignal;
  now: () => number;
  /** The GitHub API through the github-token input: pull request lookup, Deployments, comments. */
  github?: (settings: Readonly<Settings>) => GitHubApi;
  /** The OIDC token the entry asked for as the process started (early-token.ts), taken once. */
  earlyToken?: { current?: EarlyToken };
}

/** What the run has done so far, filled in as it goes; the finish step reports and cleans up from it. */
export interface RunRecord {
  report: Report;
  /** Undefined when the inputs did not parse. */
  settings?: Readonly<Settings>;
  credential?: string;
  /** The credential came from an earlier Keyhole step of the job, which owns (and revokes) it. */
  sharedCredential?: boolean;
  github?: GitHubApi;
  githubDeployment?: GitHubDeploymentRun;
  /** The deployment created and who can cancel it, for a job cancelled while it builds. */
  created?: Deployment;
  deployer?: { cancel(id: string): Promise<void> };
}

export interface Step {
  deps: ActionDeps;
  settings: Readonly<Settings>;
  record: RunRecord;
  /** What the run is about, read once from the event payload. */
  context: RunContext;
  /** The run's pull request: from the event payload, else looked up on GitHub (fork pull requests). */
  pr: () => Promise<number | undefined> | undefined;
  /** Runs `work` and records how long it took as a phase of the report. */
  phase: <T>(name: string, work: () => Promise<T>) => Promise<T>;
}

/** The phase timer of a report: the summary's Duration row. */
export function phaseTimer(report: Report, now: () => number): Step['phase'] {
  return async (name, work) => {
    const started = now();
    try {
      return await work();
    } finally {
      report.phases[name] = now() - started;
    }
  };
}
