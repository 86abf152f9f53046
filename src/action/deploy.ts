/** The deploy: create → missing_files → upload exactly those → create again → follow the build to its end. */
import { deploymentsCancelDeployment } from '@vercel/sdk/funcs/deploymentsCancelDeployment.js';
import { isErrorBody } from '../shared/wire.js';
import { DeployError, type DeployDeps, type Deployment, type DeployTarget } from './deployment.js';
import type { DeployFile } from './files.js';
import { waitForBuild } from './follow-build.js';
import { fetchRetrying } from './retry.js';
import { uploadMissing } from './upload.js';
import { createDeployClient, describeError, type DeployClient } from './vercel-client.js';

export function createDeployer(settings: DeployTarget, deps: DeployDeps) {
  const client = createDeployClient(settings, deps);
  return {
    create: (body: string) => createDeployment(client, body),
    uploadMissing: (files: DeployFile[], missing: string[]) => uploadMissing(client, files, missing),
    wait: (initial: Deployment, timeoutMs: number) => waitForBuild(client, initial, timeoutMs),
    cancel: (id: string) => cancelDeployment(client, id),
  };
}

export type Deployer = ReturnType<typeof createDeployer>;

async function createDeployment(
  { settings, deps, auth }: DeployClient,
  body: string,
): Promise<{ deployment?: Deployment; missing?: string[] }> {
  const query = new URLSearchParams({ skipAutoDetectionConfirmation: '1' });
  if (settings.prebuilt) query.set('prebuilt', '1');
  // The official CLI's flags (--force, --with-cache) as it sends them: query flags of the create.
  if (settings.force) query.set('forceNew', '1');
  if (settings.withCache) query.set('withCache', '1');
  // Plain fetch: @vercel/sdk's createDeployment strips files[].mode (research/vercel.md §4).
  const response = await fetchRetrying(
    deps.fetch,
    'create deployment',
    deps.retry,
    `${settings.brokerUrl}/v13/deployments?${query}`,
    {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', accept: 'application/json' },
      body,
      signal: deps.signal,
    },
  );
  const json = (await response.json().catch(() => undefined)) as unknown;
  if (response.status === 400 && isErrorBody(json) && json.error.code === 'missing_files') {
    return { missing: (json.error.missing as string[] | undefined) ?? [] };
  }
  if (!response.ok)
    throw new DeployError(`creating the deployment failed: ${describeError(response.status, json)}`);
  return { deployment: json as Deployment };
}

async function cancelDeployment({ core, deps }: DeployClient, id: string): Promise<void> {
  const result = await deploymentsCancelDeployment(core, { id });
  if (!result.ok) deps.log.warning(`could not cancel deployment ${id}: ${String(result.error)}`);
}

/** What a create carries besides the files: the deploy options of the step's inputs. */
export interface BodyOptions {
  stage?: boolean;
  env?: Readonly<Record<string, string>>;
  buildEnv?: Readonly<Record<string, string>>;
  regions?: readonly string[];
}

const nonEmpty = (record: Readonly<Record<string, string>> | undefined) =>
  record && Object.keys(record).length > 0 ? record : undefined;

export function deploymentBody(
  files: DeployFile[],
  project: { id: string; name: string },
  target: string,
  meta: Record<string, string> = {},
  options: BodyOptions = {},
): string {
  const env = nonEmpty(options.env);
  const buildEnv = nonEmpty(options.buildEnv);
  return JSON.stringify({
    name: project.name,
    project: project.id,
    ...(target === 'production'
      ? // Staged: built for production, domains left where they are until a promote (the CLI's --skip-domain).
        { target: 'production', ...(options.stage ? { autoAssignCustomDomains: false } : {}) }
      : target === 'preview'
        ? {}
        : { customEnvironmentSlugOrId: target }),
    version: 2,
    meta,
    ...(env ? { env } : {}),
    ...(buildEnv ? { build: { env: buildEnv } } : {}),
    ...(options.regions?.length ? { regions: options.regions } : {}),
    files: files.map((f) => ({ file: f.file, sha: f.sha, size: f.size, mode: f.mode })),
  });
}
