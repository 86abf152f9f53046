/**
 * Promotion and rollback: production moves to an existing READY production deployment after
 * `promoteMs`, without a rebuild. After a rollback, new production builds no longer take production
 * by themselves until the next promotion (Vercel turns off auto-assignment of production domains).
 */
import { drain, error, send, type Route, type VercelRequest } from './http.js';
import { productionOf, stateOf } from './lifecycle.js';
import { projectOf, type FakeState } from './state.js';

async function moveProduction(
  fake: FakeState,
  { req, res, team }: VercelRequest,
  m: RegExpExecArray,
  type: 'promote' | 'rollback',
) {
  await drain(req);
  const p = projectOf(fake, m[1]!, team);
  if (!p) return error(res, 404, 'not_found', 'Project not found');
  const d = fake.deployments.get(m[2]!);
  if (!d || d.projectId !== p.id) return error(res, 404, 'not_found', 'Deployment not found');
  if (stateOf(fake, d) !== 'READY')
    return error(res, 400, 'deployment_not_ready', `The deployment is not READY and cannot be ${type}d`);
  // Vercel's promote "does NOT rebuild": a preview has to be rebuilt with a create instead.
  if (d.target !== 'production')
    return error(
      res,
      400,
      'invalid_deployment_target',
      type === 'promote'
        ? 'Only production deployments can be promoted; create a new deployment from a preview'
        : 'Only production deployments can be rolled back to',
    );
  const current = productionOf(fake, p.id);
  if (current === d.id) return error(res, 409, 'already_current', 'The deployment already serves production');
  const now = Date.now();
  const list = fake.promotions.get(p.id) ?? [];
  list.push({
    ...(current ? { from: current } : {}),
    to: d.id,
    requestedAt: now,
    at: now + fake.promoteMs,
    type,
  });
  fake.promotions.set(p.id, list);
  res.writeHead(201);
  res.end();
}

export const promoteRoutes: Route[] = [
  {
    method: 'POST',
    path: /^\/v10\/projects\/([^/]+)\/promote\/([^/]+)$/,
    handle: (fake, r, m) => moveProduction(fake, r, m, 'promote'),
  },
  {
    method: 'POST',
    path: /^\/v9\/projects\/([^/]+)\/rollback\/([^/]+)$/,
    handle: (fake, r, m) => moveProduction(fake, r, m, 'rollback'),
  },
  {
    // What `vercel rollback status` reads when a rollback failed: the aliases that did not move.
    method: 'GET',
    path: /^\/v9\/projects\/([^/]+)\/(?:rollback|promote)\/aliases$/,
    handle: (fake, { res, team }, m) => {
      if (!projectOf(fake, m[1]!, team)) return error(res, 404, 'not_found', 'Project not found');
      return send(res, 200, { aliases: [], pagination: { count: 0, next: null, prev: null } });
    },
  },
];
