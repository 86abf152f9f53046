/** The action's wiring: inputs → OIDC → exchange → files → deploy → wait → report, with the one try/catch. */
import { assignAlias, renderAlias } from './alias.js';
import { fetchRootDirectory, uploadPrefix, withPrefix } from './root-directory.js';
import { readRunContext, type TriggeringRun } from './context.js';
import type { GitHubApi } from './github.js';
import {
  environmentName,
  jobEnvironmentFrom,
  startGitHubDeployment,
  type GitHubDeploymentRun,
} from './github-deployment.js';
import { checkBuildOutput } from './build-output.js';
import type * as DeployModule from './deploy.js';
import { DeployError, TERMINAL, uploadStats, type Deployment } from './deployment.js';
import { createProofKey, withProofs } from './dpop.js';
import { exchangeToken } from './exchange.js';
import { collectFiles, resolveInside } from './files.js';
import { batchCapabilityOf } from './batch.js';
import { parseInputs, readLabels, type Settings } from './inputs.js';
import { promoteDeployment } from './promote.js';
import { pullProject } from './pull.js';
import { requestOIDCToken } from './oidc.js';
import { deploymentUrl, setOutputs, summaryMarkdown, upsertComment, type Report } from './report.js';
import type { RetryPolicy } from './retry.js';
import { revokeCredential } from './revoke.js';
import { clearCredential, saveCredential, type StateWriter } from './state.js';

export interface ActionCore extends StateWriter {
  getInput(name: string): string;
  setOutput(name: string, value: string): void;
  setSecret(value: string): void;
  setFailed(message: string): void;
  exportVariable(name: string, value: string): void;
  info(message: string): void;
  warning(message: string): void;
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

export async function run(deps: ActionDeps): Promise<void> {
  const { core, env } = deps;
  const labels = readLabels(core.getInput);
  const report: Report = {
    project: labels.project,
    target: labels.target,
    sha: env.GITHUB_SHA ?? '',
    phases: {},
  };
  let settings: Readonly<Settings> | undefined;
  let created: Deployment | undefined;
  let credential: string | undefined;
  let jobEnvironment: string | undefined;
  /** Every call to the gateway goes through this (DPoP proofs added for key-bound credentials). */
  let gatewayFetch: typeof fetch = deps.fetch;
  let githubDeployment: GitHubDeploymentRun | undefined;
  let github: GitHubApi | undefined;
  // @vercel/sdk builds hundreds of zod schemas when it loads: that work waits until the OIDC token
  // is in hand and then overlaps the broker round trip, instead of delaying the first request.
  let deployModule: Promise<typeof DeployModule> | undefined;
  const loadDeploy = () => (deployModule ??= import('./deploy.js'));
  let deployer: ReturnType<typeof DeployModule.createDeployer> | undefined;
  const cancelOnAbort = () => {
    if (created && deployer && !TERMINAL.has(created.readyState)) {
      core.warning(`The job was cancelled; cancelling deployment ${created.id}.`);
      void deployer.cancel(created.id);
    }
  };
  deps.signal.addEventListener('abort', cancelOnAbort, { once: true });
  const phase = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const started = deps.now();
    try {
      return await work();
    } finally {
      report.phases[name] = deps.now() - started;
    }
  };

  try {
    const inputs = parseInputs(core.getInput, env);
    settings = inputs;
    report.project = inputs.project;
    report.target = inputs.target;
    github = deps.github?.(inputs);
    // Rendered before anything is deployed: a template this run cannot fill fails in a second.
    const context = readRunContext(env);
    const pr = () => (context.pr !== undefined ? Promise.resolve(context.pr) : github?.pullRequestNumber());
    let alias: string | undefined;
    if (inputs.alias && inputs.deploy) {
      alias = renderAlias(inputs.alias, {
        project: inputs.project,
        pr: await pr(),
        branch: context.branch,
        sha: context.sha,
      });
    }

    // Offered at the exchange; bound only when the project requires DPoP. The official CLI (deploy:
    // false) cannot sign proofs, so credential-only mode offers none.
    const proofKey = inputs.deploy ? await createProofKey() : undefined;
    const exchanged = await phase('exchange', () =>
      exchangeToken(
        inputs.brokerUrl,
        { project: inputs.project, target: inputs.target },
        {
          fetch: deps.fetch,
          retry: deps.retry,
          setSecret: core.setSecret,
          ...(proofKey ? { proofKey } : {}),
          getToken: async () => {
            const token = await requestOIDCToken(inputs.audience, env, core.getIDToken);
            jobEnvironment = jobEnvironmentFrom(token);
            if (inputs.deploy && !inputs.promote) void loadDeploy();
            return token;
          },
        },
      ),
    );
    credential = exchanged.credential;
    // The post step revokes it whatever happens from here on (success, failure, cancellation).
    saveCredential(core, {
      brokerUrl: inputs.brokerUrl,
      credential: exchanged.credential,
      expiresAt: exchanged.expires_at,
    });
    core.info(
      `Keyhole: ${exchanged.token_type === 'DPoP' ? 'key-bound (DPoP) ' : ''}deploy credential for ${exchanged.project.name} (${exchanged.project.id}) → ${exchanged.target}, valid until ${new Date(exchanged.expires_at).toISOString()}`,
    );

    gatewayFetch =
      exchanged.token_type === 'DPoP' && proofKey
        ? withProofs(deps.fetch, proofKey, exchanged.credential)
        : deps.fetch;
    if (inputs.pull) {
      // Written inside the real (symlink-resolved) directory, which must stay inside the workspace.
      const dir = await resolveInside(inputs.path, inputs.workspace);
      const pulled = await phase('pull', () =>
        pullProject(
          {
            brokerUrl: inputs.brokerUrl,
            credential: exchanged.credential,
            target: inputs.target,
            dir,
            ...(env.GITHUB_REF?.startsWith('refs/heads/')
              ? { branch: env.GITHUB_REF.slice('refs/heads/'.length) }
              : {}),
          },
          exchanged.project,
          { fetch: gatewayFetch, retry: deps.retry },
        ),
      );
      core.info(
        `Pulled ${pulled.names.length} variable(s) for ${inputs.target} into ${pulled.envFile}${pulled.names.length ? `: ${pulled.names.join(', ')}` : ''}; settings in ${pulled.projectFile}`,
      );
    }

    if (!inputs.deploy) {
      core.setOutput('credential', exchanged.credential);
      core.exportVariable('VERCEL_TOKEN', exchanged.credential);
      core.exportVariable('VERCEL_ORG_ID', exchanged.project.team_id);
      core.exportVariable('VERCEL_PROJECT_ID', exchanged.project.id);
      core.exportVariable('KEYHOLE_API_URL', inputs.brokerUrl);
      core.setOutput('api-url', inputs.brokerUrl);
      core.info(
        `Credential exported as VERCEL_TOKEN; run: vercel deploy --prebuilt --api "$KEYHOLE_API_URL"${inputs.target === 'production' ? ' --prod' : ''}`,
      );
      return;
    }

    if (inputs.promote) {
      const promoted = await phase('promote', () =>
        promoteDeployment(
          {
            brokerUrl: inputs.brokerUrl,
            credential: exchanged.credential,
            projectId: exchanged.project.id,
            deployment: inputs.promote!,
            timeoutMs: inputs.timeoutMs,
          },
          { fetch: gatewayFetch, retry: deps.retry, log: core, now: deps.now, signal: deps.signal },
        ),
      );
      report.deployment = promoted;
      report.production = 'promoted';
      core.info(`Production now serves ${promoted.id}: https://${promoted.url}`);
    } else {
      // A monorepo project (Root Directory set): the files go where Vercel will look for them. Asked
      // while the files are hashed; it decides only where they sit in the upload.
      const rootDirectory = fetchRootDirectory(inputs.brokerUrl, exchanged.credential, exchanged.project.id, {
        fetch: gatewayFetch,
        retry: deps.retry,
      }).catch((error: unknown) => {
        core.warning(
          `Could not read the project's Root Directory (${error instanceof Error ? error.message : String(error)}); uploading paths as they are.`,
        );
        return undefined;
      });
      const { createDeployer, deploymentBody } = await loadDeploy();
      // Symlinks resolved before anything under `path` is read: it must stay inside the workspace.
      const root = await resolveInside(inputs.path, inputs.workspace);
      if (inputs.prebuilt) await checkBuildOutput(root, inputs.target);
      let lastReport = 0;
      let files = await phase('hash', () =>
        collectFiles(root, {
          prebuilt: inputs.prebuilt,
          onProgress: (done, total) => {
            if (deps.now() - lastReport > 2000 || done === total) {
              lastReport = deps.now();
              core.info(`Hashing ${done}/${total} files`);
            }
          },
        }),
      );
      const prefix = await uploadPrefix(root, await rootDirectory, inputs.prebuilt);
      if (prefix)
        core.info(
          `The project's Root Directory is ${prefix.slice(0, -1)}: uploading the files under ${prefix}`,
        );
      files = withPrefix(files, prefix);

      const batch = batchCapabilityOf(exchanged);
      if (batch)
        core.info(
          `The broker takes small files in batches (${batch.max_files} files, ${(batch.max_bytes / 1024 ** 2).toFixed(0)} MB at most)`,
        );
      deployer = createDeployer(
        {
          brokerUrl: inputs.brokerUrl,
          credential: exchanged.credential,
          target: inputs.target,
          prebuilt: inputs.prebuilt,
          ...(batch ? { batch } : {}),
        },
        {
          fetch: gatewayFetch,
          retry: deps.retry,
          log: core,
          signal: deps.signal,
          now: deps.now,
        },
      );
      const body = deploymentBody(
        files,
        exchanged.project,
        inputs.target,
        context.workflowRun
          ? reportedSource(
              context.workflowRun,
              await pr()?.catch((error: unknown) => {
                core.warning(`Could not find the pull request of the triggering run: ${String(error)}`);
                return undefined;
              }),
            )
          : {},
        { stage: inputs.stage },
      );
      let attempt = await phase('create', () => deployer!.create(body));
      if (attempt.missing) {
        const missing = attempt.missing;
        report.stats = await phase('upload', () => deployer!.uploadMissing(files, missing));
        attempt = await phase('create', () => deployer!.create(body));
        if (attempt.missing)
          throw new DeployError(
            `Vercel still reports ${attempt.missing.length} missing file(s) after the upload; re-run the job`,
          );
      } else {
        report.stats = uploadStats(files, []);
      }
      created = attempt.deployment!;
      report.deployment = created;
      if (inputs.githubDeployment) {
        const api = await github?.deployments();
        if (api)
          githubDeployment = await startGitHubDeployment(
            api,
            {
              ref: context.headSha ?? report.sha,
              environment: environmentName(inputs.project, inputs.target, jobEnvironment),
              project: inputs.project,
              target: inputs.target,
              pr: await pr()?.catch(() => undefined),
              logUrl: created.inspectorUrl ?? undefined,
            },
            core,
          );
      }
      core.info(`Deployment ${created.id} created: https://${created.url}`);
      if (created.inspectorUrl) core.info(`Inspect: ${created.inspectorUrl}`);

      if (inputs.wait) {
        report.deployment = created = await phase('build', () => deployer!.wait(created!, inputs.timeoutMs));
        if (created.readyState !== 'READY') {
          throw new DeployError(
            `The deployment ended ${created.readyState}${created.errorMessage ? `: ${created.errorMessage}` : ''}. Open the inspector URL for the full build log.`,
            created,
          );
        }
        core.info(`Ready: https://${created.url}`);
        if (inputs.stage) {
          report.production = 'staged';
          core.info(
            `Staged for production; production still serves the previous deployment. Promote it with promote: ${created.id}`,
          );
        }
        if (alias) {
          report.aliasUrl = await phase('alias', () =>
            assignAlias(inputs.brokerUrl, exchanged.credential, created!.id, alias, {
              fetch: gatewayFetch,
              retry: deps.retry,
            }),
          );
          core.info(`Alias: ${report.aliasUrl}`);
        }
      } else if (alias) {
        core.warning('The alias is assigned once the deployment is READY; with wait: false it is skipped.');
      }
    }
  } catch (error) {
    const failed = (error as { deployment?: Deployment }).deployment;
    if (failed) report.deployment = failed;
    report.error = error instanceof Error ? error.message : String(error);
    core.setFailed(report.error);
  } finally {
    deps.signal.removeEventListener('abort', cancelOnAbort);
  }
  // The deploy needs the credential no more: end it now rather than at the end of the job. A
  // cancelled run leaves it to the post step (the cancel request may still be using it).
  if (credential && settings?.deploy && !deps.signal.aborted) {
    try {
      await revokeCredential(settings.brokerUrl, credential, deps);
      clearCredential(core);
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
    const pr = settings?.comment ? await github?.pullRequest() : undefined;
    if (pr) core.info(`Pull request comment ${await upsertComment(pr.api, pr.number, report)}.`);
  } catch (error) {
    core.warning(
      `Could not write the summary or the pull request comment: ${error instanceof Error ? error.message : String(error)}. The comment needs "pull-requests: write".`,
    );
  }
}
