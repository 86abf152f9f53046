/** The main step: inputs → credential → pull, export, promote or deploy → finish; the one try/catch. */
import { renderAlias } from './alias.js';
import { runCleanup } from './cleanup.js';
import { readRunContext } from './context.js';
import { exportCredential, obtainCredential } from './credential.js';
import { loadDeployOnceSent, runDeploy } from './deploy-step.js';
import { TERMINAL, type Deployment } from './deployment.js';
import { finishRun } from './finish.js';
import { parseInputs, readLabels } from './inputs.js';
import { runPromote } from './promote.js';
import { runPull } from './pull.js';
import { runRollback } from './rollback.js';
import { runVercelBuild } from './build.js';
import { phaseTimer, type ActionDeps, type RunRecord, type Step } from './step.js';

export async function run(deps: ActionDeps): Promise<void> {
  const { core, env } = deps;
  const labels = readLabels(core.getInput);
  const record: RunRecord = {
    report: { project: labels.project, target: labels.target, sha: env.GITHUB_SHA ?? '', phases: {} },
  };
  const cancelOnAbort = () => {
    const { created, deployer } = record;
    if (created && deployer && !TERMINAL.has(created.readyState)) {
      core.warning(`The job was cancelled; cancelling deployment ${created.id}.`);
      void deployer.cancel(created.id);
    }
  };
  deps.signal.addEventListener('abort', cancelOnAbort, { once: true });
  try {
    await runSteps(deps, record);
  } catch (error) {
    const failed = (error as { deployment?: Deployment }).deployment;
    if (failed) record.report.deployment = failed;
    record.report.error = error instanceof Error ? error.message : String(error);
    core.setFailed(record.report.error);
  } finally {
    deps.signal.removeEventListener('abort', cancelOnAbort);
  }
  await finishRun(deps, record);
}

async function runSteps(deps: ActionDeps, record: RunRecord): Promise<void> {
  const settings = parseInputs(deps.core.getInput, deps.env);
  record.settings = settings;
  record.report.project = settings.project;
  record.report.target = settings.target;
  const github = (record.github = deps.github?.(settings));
  const context = readRunContext(deps.env);
  // No retry waits past timeout-minutes: a rate limit that resets later is a clear failure now.
  const deadline = deps.now() + settings.timeoutMs;
  const step: Step = {
    deps: { ...deps, retry: { ...deps.retry, deadline, now: deps.now } },
    settings,
    record,
    context,
    pr: () => (context.pr !== undefined ? Promise.resolve(context.pr) : github?.pullRequestNumber()),
    phase: phaseTimer(record.report, deps.now),
  };
  // Rendered before anything is deployed: a template this run cannot fill fails in a second.
  let alias: string | undefined;
  if (settings.alias && settings.deploy && !settings.cleanup && !settings.rollback) {
    alias = renderAlias(settings.alias, {
      project: settings.project,
      pr: await step.pr(),
      branch: context.branch,
      sha: context.sha,
    });
  }

  const credential = await obtainCredential(step, () => {
    // The deploy code loads while the broker answers (deploy-step.ts, loadDeployOnceSent).
    if (settings.deploy && !settings.promote && !settings.rollback && !settings.cleanup)
      loadDeployOnceSent(new URL(settings.brokerUrl).origin);
  });
  // build: true pulls whatever env_pull allows (a project listing nothing builds without it).
  if (settings.pull || settings.build)
    await runPull(step, credential, { envMayBeRefused: settings.build && !settings.pull });
  if (settings.build) await runVercelBuild(step);
  if (!settings.deploy) return exportCredential(step, credential);
  if (settings.cleanup) await runCleanup(step, credential);
  else if (settings.rollback) await runRollback(step, settings.rollback, credential);
  else if (settings.promote) await runPromote(step, settings.promote, credential);
  else await runDeploy(step, credential, alias);
}
