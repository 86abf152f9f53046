/** Whether what a call names is the pinned project's: its project (by id or Vercel name) and its deployments. */
import type { CredentialClaims } from '../credential/credential.js';
import { BrokerError, forbidden, notFound } from '../errors.js';
import type { ProjectContext } from './context.js';
import { forwardToVercel, relayResponse } from './forward.js';

const NAME_TTL_MS = 10 * 60_000;

/** The pinned project's name at Vercel (cached per instance), or its name in the config if Vercel does not say. */
export async function vercelName(ctx: ProjectContext): Promise<string> {
  const { project, upstream } = ctx;
  const { names } = ctx.state;
  const cached = names.get(project.projectId);
  if (cached && ctx.now() - cached.at < NAME_TTL_MS) return cached.name;
  try {
    const response = await forwardToVercel(upstream, {
      method: 'GET',
      path: `/v9/projects/${project.projectId}`,
      query: new URLSearchParams(),
      teamId: project.teamId,
    });
    const body = (await response.json()) as { name?: unknown };
    if (response.ok && typeof body.name === 'string') {
      names.set(project.projectId, { name: body.name, at: ctx.now() });
      return body.name;
    }
  } catch {
    // `project` pins the deployment either way; the name only shapes its URL.
  }
  return project.name;
}

/** Is `param` the pinned project (by id or Vercel name)? Anything else is answered as not found. */
export async function checkPinned(ctx: ProjectContext, param: string): Promise<void> {
  if (param !== ctx.project.projectId && param !== (await vercelName(ctx)))
    throw notFound('The project was not found.');
}

/** Reads a deployment upstream and answers 404 unless it belongs to the pinned project. */
export async function ownedDeployment(
  ctx: ProjectContext,
  id: string,
  query = new URLSearchParams(),
): Promise<{ response: Response; body: Record<string, unknown> | undefined }> {
  const { project, upstream } = ctx;
  const response = await forwardToVercel(upstream, {
    method: 'GET',
    path: `/v13/deployments/${id}`,
    query,
    teamId: project.teamId,
  });
  // Vercel may answer another team's deployment 403 (or a malformed id 400) rather than 404: all
  // three answer exactly like an unknown id, so no status tells a caller what exists elsewhere.
  if (response.status === 400 || response.status === 403 || response.status === 404) {
    await response.body?.cancel();
    throw notFound();
  }
  if (!response.ok) return { response: await relayResponse(response), body: undefined };
  const body = (await response.json()) as Record<string, unknown>;
  // A foreign deployment is indistinguishable from a missing one.
  if (body.projectId !== project.projectId) throw notFound();
  return { response, body };
}

/**
 * The `dpl_` id from the ownership answer: a follow-up call must act on the deployment whose
 * ownership was checked, never resolve the client's id (a hostname, an alias that may move) again.
 */
export function resolvedId(body: Record<string, unknown>): string {
  const id = body.id ?? body.uid;
  if (typeof id !== 'string' || !/^dpl_[A-Za-z0-9]+$/.test(id))
    throw new BrokerError(502, 'upstream_error', 'Vercel answered a deployment without its dpl_ id.');
  return id;
}

/**
 * The names a deployment's target goes by: `production`, a custom environment's id and slug (Vercel
 * answers `customEnvironment` as `{id}` or the full object), or `preview` (Vercel's `target: null`).
 */
export function deploymentTargetNames(body: Record<string, unknown>): string[] {
  const custom = body.customEnvironment;
  if (typeof custom === 'object' && custom !== null) {
    const { id, slug } = custom as { id?: unknown; slug?: unknown };
    const names = [id, slug].filter((n): n is string => typeof n === 'string' && n !== '');
    // A custom environment Vercel names by nothing we can compare: no credential matches it.
    return names.length > 0 ? names : ['<unnamed custom environment>'];
  }
  if (body.target === 'production') return ['production'];
  if (body.target === null || body.target === undefined || body.target === 'preview') return ['preview'];
  return [String(body.target)];
}

/**
 * Production and custom environments are guarded targets (environment protection gates their
 * credentials): a credential of another target, a preview one any branch may obtain, must not cancel
 * such a deployment in flight nor read its logs, where that environment's values may be printed.
 * `ownTargetOnly` (inspect and logs reads): even a preview deployment needs a preview credential.
 */
export function checkTargetReach(
  body: Record<string, unknown>,
  claims: CredentialClaims,
  call: string,
  ownTargetOnly = false,
): void {
  const names = deploymentTargetNames(body);
  if (names.includes(claims.tgt)) return;
  if (!ownTargetOnly && names[0] === 'preview') return;
  const what = names[0] === 'production' ? 'production' : names[0] === 'preview' ? 'preview' : names.at(-1);
  throw forbidden(
    `${call} is not allowed: it is a ${what} deployment, and this credential deploys to ${claims.tgt}`,
  );
}
