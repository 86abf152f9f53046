/** Promotion: production moves to an existing READY production deployment after `promoteMs`, without a rebuild. */
import { drain, error, type Route } from './http.js';
import { productionOf, stateOf } from './lifecycle.js';
import { projectOf } from './state.js';

export const promoteRoutes: Route[] = [
  {
    method: 'POST',
    path: /^\/v10\/projects\/([^/]+)\/promote\/([^/]+)$/,
    handle: async (fake, { req, res, team }, m) => {
      await drain(req);
      const p = projectOf(fake, m[1]!, team);
      if (!p) return error(res, 404, 'not_found', 'Project not found');
      const d = fake.deployments.get(m[2]!);
      if (!d || d.projectId !== p.id) return error(res, 404, 'not_found', 'Deployment not found');
      if (stateOf(fake, d) !== 'READY')
        return error(res, 400, 'deployment_not_ready', 'The deployment is not READY and cannot be promoted');
      // Vercel's promote "does NOT rebuild": a preview has to be rebuilt with a create instead.
      if (d.target !== 'production')
        return error(
          res,
          400,
          'invalid_deployment_target',
          'Only production deployments can be promoted; create a new deployment from a preview',
        );
      const current = productionOf(fake, p.id);
      if (current === d.id)
        return error(res, 409, 'already_current', 'The deployment already serves production');
      const now = Date.now();
      const list = fake.promotions.get(p.id) ?? [];
      list.push({
        ...(current ? { from: current } : {}),
        to: d.id,
        requestedAt: now,
        at: now + fake.promoteMs,
        type: 'promote',
      });
      fake.promotions.set(p.id, list);
      res.writeHead(201);
      res.end();
    },
  },
];
