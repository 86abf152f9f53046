/**
 * The GitHub Deployment of a deploy (the "View deployment" button): created once the Vercel
 * deployment exists, `in_progress` then `success`/`failure`, earlier ones of the same pull request
 * marked inactive. GitHub trouble is a warning, never a failed deploy.
 */

export interface GitHubDeploymentApi {
  create(input: {
    ref: string;
    environment: string;
    description: string;
    transient: boolean;
    production: boolean;
    payload: DeploymentPayload;
  }): Promise<number>;
  status(
    id: number,
    state: 'in_progress' | 'success' | 'failure' | 'inactive',
    urls: { environmentUrl?: string; logUrl?: string; autoInactive?: boolean },
  ): Promise<void>;
  list(environment: string): Promise<{ id: number; payload: unknown }[]>;
}

/** What Keyhole stores in the deployment's payload: enough to find the same pull request's earlier ones. */
export interface DeploymentPayload {
  keyhole: { project: string; pr?: number };
}

export const PERMISSION_HINT = `The GitHub Deployment needs the "deployments: write" permission. Add it to the job:

permissions:
  deployments: write
  id-token: write`;

/**
 * The job's GitHub environment, read from its own OIDC token's payload (the action holds the token
 * it just asked GitHub for; nothing is decided on it, it only names the GitHub Deployment).
 */
export function jobEnvironmentFrom(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      environment?: unknown;
    };
    return typeof payload.environment === 'string' && payload.environment ? payload.environment : undefined;
  } catch {
    return undefined;
  }
}

/** `Preview – <project>` for previews; otherwise the job's GitHub environment, or the target's name. */
export function environmentName(project: string, target: string, jobEnvironment?: string): string {
  if (target === 'preview') return `Preview – ${project}`;
  return jobEnvironment || `${target[0]!.toUpperCase()}${target.slice(1)} – ${project}`;
}

export interface Warn {
  warning(message: string): void;
  info(message: string): void;
}

function explain(error: unknown, log: Warn): void {
  const status = (error as { status?: unknown }).status;
  if (status === 403 || status === 404) {
    log.warning(`${PERMISSION_HINT}\nGitHub answered ${status}; the deploy itself is unaffected.`);
  } else {
    log.warning(
      `Could not update the GitHub Deployment: ${error instanceof Error ? error.message : String(error)}. The deploy itself is unaffected.`,
    );
  }
}

export interface GitHubDeploymentRun {
  /** Ends the deployment with the outcome; earlier ones of the same pull request become inactive on success. */
  finish(outcome: { ok: boolean; environmentUrl?: string; logUrl?: string }): Promise<void>;
}

/** Creates the deployment and sets `in_progress`; undefined (with a warning) when GitHub refuses. */
export async function startGitHubDeployment(
  api: GitHubDeploymentApi,
  input: { ref: string; environment: string; project: string; target: string; pr?: number; logUrl?: string },
  log: Warn,
): Promise<GitHubDeploymentRun | undefined> {
  const payload: DeploymentPayload = {
    keyhole: { project: input.project, ...(input.pr !== undefined ? { pr: input.pr } : {}) },
  };
  let id: number;
  try {
    id = await api.create({
      ref: input.ref,
      environment: input.environment,
      description: `Keyhole deploy of ${input.project}`,
      transient: input.target !== 'production',
      production: input.target === 'production',
      payload,
    });
    await api.status(id, 'in_progress', { logUrl: input.logUrl });
    log.info(`GitHub Deployment ${id} in ${input.environment}: in progress.`);
  } catch (error) {
    explain(error, log);
    return undefined;
  }
  return {
    finish: async ({ ok, environmentUrl, logUrl }) => {
      try {
        // GitHub's auto_inactive would retire every earlier deployment of the environment, other
        // pull requests' previews included: Keyhole retires only the same pull request's.
        await api.status(id, ok ? 'success' : 'failure', { environmentUrl, logUrl, autoInactive: false });
        log.info(`GitHub Deployment ${id}: ${ok ? 'success' : 'failure'}.`);
        if (!ok) return;
        for (const earlier of await api.list(input.environment)) {
          const keyhole = (earlier.payload as Partial<DeploymentPayload> | null)?.keyhole;
          if (earlier.id === id || keyhole?.project !== input.project || keyhole.pr !== input.pr) continue;
          await api.status(earlier.id, 'inactive', {});
        }
      } catch (error) {
        explain(error, log);
      }
    },
  };
}
