/** The end of the main step, whatever the outcome: early revocation, outputs, GitHub Deployment, summary, comment. */
import { deploymentUrl, setOutputs, summaryMarkdown, upsertComment } from './report.js';
import { forgetJobCredential } from './job-credential.js';
import { revokeCredential } from './revoke.js';
import { clearCredential } from './state.js';
import type { ActionDeps, RunRecord } from './step.js';

export async function finishRun(deps: ActionDeps, record: RunRecord): Promise<void> {
  const { core } = deps;
  const { report, settings, credential, githubDeployment } = record;
  // The deploy needs the credential no more: end it now rather than at the end of the job; so does
  // a failed step of any kind (a refused workspace file, a failed pull), whose credential no later
  // step should inherit. A cancelled run leaves it to the post step (the cancel request may still
  // be using it).
  // A credential an earlier step of the job obtained is that step's to revoke (its post step).
  const owned = credential && !record.sharedCredential;
  if (owned && settings && (settings.deploy || report.error) && !deps.signal.aborted) {
    try {
      await revokeCredential(settings.brokerUrl, credential, deps);
      clearCredential(core);
      forgetJobCredential(deps.env, settings);
    } catch (error) {
      core.warning(
        `Keyhole could not revoke the credential yet (${error instanceof Error ? error.message : String(error)}); the post step tries again.`,
      );
    }
  }
  if (settings && !settings.deploy && !report.error) return;
  setOutputs(core, report);
  // With wait: false the build outcome is unknown here; the deployment stays in progress.
  if (githubDeployment && (report.error || settings?.wait)) {
    await githubDeployment.finish({
      ok: !report.error && report.deployment?.readyState === 'READY',
      environmentUrl: report.aliasUrl ?? (deploymentUrl(report.deployment) || undefined),
      logUrl: report.deployment?.inspectorUrl ?? undefined,
    });
  }
  try {
    await core.writeSummary(summaryMarkdown(report));
    const pr = settings?.comment ? await record.github?.pullRequest() : undefined;
    if (pr) core.info(`Pull request comment ${await upsertComment(pr.api, pr.number, report)}.`);
  } catch (error) {
    core.warning(
      `Could not write the summary or the pull request comment: ${error instanceof Error ? error.message : String(error)}. The comment needs "pull-requests: write".`,
    );
  }
}
