/** `GET /v3/env/pull/:project/:target(/:branch)`: `vercel pull`, narrowed to the names the project's `env_pull` lists. */
import { forbidden } from '../../errors.js';
import { answerJson, type GatewayResult, type ProjectContext } from '../context.js';
import { forwardToVercel, relayResponse } from '../forward.js';
import { checkPinned } from '../ownership.js';

/**
 * `vercel pull`: only the credential's own target (and branch), only the names the project's
 * `env_pull` lists. Every other variable, its value and even its name stay in the broker.
 */
export async function pullEnv(ctx: ProjectContext): Promise<GatewayResult> {
  const { route, claims, project, upstream } = ctx;
  const [projectParam, target, rawBranch] = route.params as [string, string, string | undefined];
  const call = `GET ${route.path}`;
  if (project.envPull.length === 0) {
    throw forbidden(
      `${call} is not allowed: project ${project.name} lets builds read no variables; its broker admin lists the names in env_pull`,
    );
  }
  if (target !== claims.tgt) {
    throw forbidden(
      `${call} is not allowed: this credential reads the ${claims.tgt} environment only (pull with --environment=${claims.tgt})`,
    );
  }
  let branch: string | undefined;
  if (rawBranch !== undefined) {
    branch = decodeURIComponent(rawBranch);
    const own = claims.ref.startsWith('refs/heads/') ? claims.ref.slice('refs/heads/'.length) : undefined;
    if (branch !== own) {
      throw forbidden(
        `${call} is not allowed: a credential for ${claims.ref} may read branch overrides of ${own ?? 'no branch'} only`,
      );
    }
  }
  await checkPinned(ctx, projectParam);
  const query = new URLSearchParams();
  const source = route.query.get('source');
  if (source !== null) query.set('source', source);
  const response = await forwardToVercel(upstream, {
    method: 'GET',
    path: `/v3/env/pull/${project.projectId}/${encodeURIComponent(target)}${branch === undefined ? '' : `/${encodeURIComponent(branch)}`}`,
    query,
    teamId: project.teamId,
  });
  if (!response.ok) return { response: await relayResponse(response), upstreamStatus: response.status };
  const body = (await response.json()) as { env?: unknown; buildEnv?: unknown };
  const pick = (record: unknown): Record<string, string> => {
    if (typeof record !== 'object' || record === null) return {};
    const values = record as Record<string, unknown>;
    return Object.fromEntries(
      project.envPull
        .filter((name) => Object.hasOwn(values, name) && typeof values[name] === 'string')
        .map((name) => [name, values[name] as string]),
    );
  };
  const env = pick(body.env);
  const buildEnv = pick(body.buildEnv);
  return {
    response: answerJson(200, { env, buildEnv }),
    upstreamStatus: response.status,
    audit: { env_names: [...new Set([...Object.keys(env), ...Object.keys(buildEnv)])].sort() },
  };
}
