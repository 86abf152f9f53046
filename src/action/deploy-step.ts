/** A run's deploy: files → create → missing → upload → create → GitHub Deployment → build → alias. */
import diagnostics from 'node:diagnostics_channel';
import { assignAlias } from './alias.js';
import { batchCapabilityOf } from './batch.js';
import { runCheck } from './check.js';
import type { TriggeringRun } from './context.js';
import type { Credential } from './credential.js';
import type * as DeployModule from './deploy.js';
import type { Deployer } from './deploy.js';
import { collectDeployFiles, prepareUpload, readRootDirectory } from './deploy-files.js';
import { DeployError, uploadStats, type Deployment } from './deployment.js';
import type { DeployFile } from './files.js';
import { environmentName, startGitHubDeployment } from './github-deployment.js';
import type { Step } from './step.js';

const BODY_SENT = 'undici:request:bodySent';
let deployModule: Promise<typeof DeployModule> | undefined;
export const loadDeploy = () => (deployModule ??= import('./deploy.js'));

/**
 * Loads the deploy code once a request to `origin` (the broker's exchange) is on the wire, as
 * undici reports on its `bodySent` diagnostics channel (Node's fetch publishes it): @vercel/sdk
 * builds hundreds of zod schemas as it loads, 150–250 ms of the main thread, which then overlap
 * the broker's round trip. Loaded as soon as the token was in hand, it held the exchange request
 * back by as much (docs/benchmarks.md, "The second session of round 3"). With a fetch that
 * publishes nothing (a test's), the deploy loads it when it needs it.
 */
export function loadDeployOnceSent(origin: string, load: () => unknown = loadDeploy): void {
  const sent = (message: unknown) => {
    if ((message as { request?: { origin?: unknown } }).request?.origin !== origin) return;
    diagnostics.unsubscribe(BODY_SENT, sent);
    void load();
  };
  diagnostics.subscribe(BODY_SENT, sent);
}

/** Deploys the files under `path`; `alias` is the rendered alias template, assigned once READY. */
export async function runDeploy(
  step: Step,
  credential: Credential,
  alias: string | undefined,
): Promise<void> {
  const rootDirectory = readRootDirectory(step, credential);
  const upload = await prepareUpload(step, await collectDeployFiles(step, rootDirectory));
  try {
    await deployUpload(step, credential, alias, upload.files);
  } finally {
    await upload.dispose();
  }
}

async function deployUpload(
  step: Step,
  credential: Credential,
  alias: string | undefined,
  files: DeployFile[],
): Promise<void> {
  const { deps, settings, record } = step;
  const { core } = deps;
  const { exchanged, gatewayFetch } = credential;
  const { createDeployer, deploymentBody } = await loadDeploy();

  const batch = batchCapabilityOf(exchanged);
  if (batch)
    core.info(
      `The broker takes small files in batches (${batch.max_files} files, ${(batch.max_bytes / 1024 ** 2).toFixed(0)} MB at most)`,
    );
  const deployer = (record.deployer = createDeployer(
    {
      brokerUrl: settings.brokerUrl,
      credential: exchanged.credential,
      target: settings.target,
      prebuilt: settings.prebuilt,
      force: settings.force,
      withCache: settings.withCache,
      ...(batch ? { batch } : {}),
    },
    {
      fetch: gatewayFetch,
      retry: deps.retry,
      log: core,
      signal: deps.signal,
      now: deps.now,
    },
  ));
  const meta = { ...settings.meta, ...(await reportedMeta(step)) };
  const body = deploymentBody(files, exchanged.project, settings.target, meta, {
    stage: settings.stage,
    env: settings.env,
    buildEnv: settings.buildEnv,
    regions: settings.regions,
  });
  const created = await createWithFiles(step, deployer, files, body);
  record.created = record.report.deployment = created;
  if (settings.githubDeployment) {
    const api = await record.github?.deployments();
    if (api)
      record.githubDeployment = await startGitHubDeployment(
        api,
        {
          ref: step.context.headSha ?? record.report.sha,
          environment: environmentName(settings.project, settings.target, credential.jobEnvironment),
          project: settings.project,
          target: settings.target,
          pr: await step.pr()?.catch(() => undefined),
          logUrl: created.inspectorUrl ?? undefined,
        },
        core,
      );
  }
  core.info(`Deployment ${created.id} created: https://${created.url}`);
  if (created.inspectorUrl) core.info(`Inspect: ${created.inspectorUrl}`);

  if (settings.wait) await waitUntilReady(step, credential, deployer, created, alias);
  else if (alias || settings.checkPath)
    core.warning(
      'The alias and check-path run once the deployment is READY; with wait: false they are skipped.',
    );
}

/** create → missing_files → upload exactly those → create again. */
async function createWithFiles(
  { record, phase }: Step,
  deployer: Deployer,
  files: DeployFile[],
  body: string,
): Promise<Deployment> {
  let attempt = await phase('create', () => deployer.create(body));
  if (attempt.missing) {
    const missing = attempt.missing;
    record.report.stats = await phase('upload', () => deployer.uploadMissing(files, missing));
    attempt = await phase('create', () => deployer.create(body));
    if (attempt.missing)
      throw new DeployError(
        `Vercel still reports ${attempt.missing.length} missing file(s) after the upload; re-run the job`,
      );
  } else {
    record.report.stats = uploadStats(files, []);
  }
  return attempt.deployment!;
}

/** Follows the build to its end; a READY deployment gets the alias, and a staged one the promote hint. */
async function waitUntilReady(
  step: Step,
  { exchanged, gatewayFetch }: Credential,
  deployer: Deployer,
  created: Deployment,
  alias: string | undefined,
): Promise<void> {
  const { deps, settings, record } = step;
  const { core } = deps;
  const { report } = record;
  const built = await step.phase('build', () => deployer.wait(created, settings.timeoutMs));
  report.deployment = record.created = built;
  if (built.readyState !== 'READY') {
    throw new DeployError(
      `The deployment ended ${built.readyState}${built.errorMessage ? `: ${built.errorMessage}` : ''}. Open the inspector URL for the full build log.`,
      built,
    );
  }
  core.info(`Ready: https://${built.url}`);
  if (settings.stage) {
    report.production = 'staged';
    core.info(
      `Staged for production; production still serves the previous deployment. Promote it with promote: ${built.id}`,
    );
  }
  if (alias) {
    report.aliasUrl = await step.phase('alias', () =>
      assignAlias(settings.brokerUrl, exchanged.credential, built.id, alias, {
        fetch: gatewayFetch,
        retry: deps.retry,
      }),
    );
    core.info(`Alias: ${report.aliasUrl}`);
  }
  if (settings.checkPath) await runCheck(step, { deployment: built.url, alias: report.aliasUrl });
}

/** The deployment's `meta`: for a `workflow_run` deploy, what it reports about the code it deploys. */
async function reportedMeta({ deps, context, pr }: Step): Promise<Record<string, string>> {
  return context.workflowRun
    ? reportedSource(
        context.workflowRun,
        await pr()?.catch((error: unknown) => {
          deps.core.warning(`Could not find the pull request of the triggering run: ${String(error)}`);
          return undefined;
        }),
      )
    : {};
}

/**
 * What a `workflow_run` deploy knows about the code it deploys, from GitHub's event payload and API
 * (never from the artifact). The broker cannot verify these, so they go in as "reported", next to
 * the values it stamps from the verified token (docs/previews.md#provenance).
 */
function reportedSource(run: TriggeringRun, pr: number | undefined): Record<string, string> {
  return {
    reportedTriggeringRunId: String(run.id),
    reportedHeadSha: run.headSha,
    ...(run.headRepository ? { reportedHeadRepository: run.headRepository } : {}),
    ...(pr !== undefined ? { reportedPullRequest: String(pr) } : {}),
  };
}
