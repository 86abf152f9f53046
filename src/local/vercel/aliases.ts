/** Aliases and domains: assign an alias to a READY deployment, read an alias back, list a project's domains. */
import { randomBytes } from 'node:crypto';
import { drain, error, readJson, send, type Route } from './http.js';
import { stateOf } from './lifecycle.js';
import { projectDomain } from './domains.js';
import { deploymentOf, projectOf } from './state.js';

export const aliasRoutes: Route[] = [
  {
    method: 'POST',
    path: /^\/v2\/deployments\/([^/]+)\/aliases$/,
    handle: async (fake, r, m) => {
      // Vercel's "Assign an Alias": moves the alias from whatever deployment held it.
      const { res, team } = r;
      const body = await readJson<{ alias?: unknown; redirect?: unknown }>(r);
      if (!body) return;
      const d = deploymentOf(fake, m[1]!, true);
      if (!d || (team && d.teamId !== team))
        return error(res, 404, 'not_found', 'The deployment was not found');
      if (typeof body.alias !== 'string' || body.alias === '')
        return error(res, 400, 'bad_request', 'Invalid request: missing required property `alias`');
      if (stateOf(fake, d) !== 'READY')
        return error(res, 400, 'deployment_not_ready', 'The deployment is not READY and can not be aliased');
      const old = fake.aliases.get(body.alias);
      fake.aliases.set(body.alias, d.id);
      return send(res, 200, {
        uid: `alias_${randomBytes(8).toString('hex')}`,
        alias: body.alias,
        created: new Date().toISOString(),
        ...(old && old !== d.id ? { oldDeploymentId: old } : {}),
      });
    },
  },
  {
    method: 'GET',
    path: /^\/v4\/aliases\/([^/]+)$/,
    handle: (fake, { res, team }, m) => {
      const id = fake.aliases.get(m[1]!);
      const d = id ? fake.deployments.get(id) : undefined;
      if (!d || (team && d.teamId !== team)) return error(res, 404, 'not_found', 'The alias was not found');
      return send(res, 200, {
        uid: `alias_${m[1]!.length}`,
        alias: m[1],
        deploymentId: d.id,
        projectId: d.projectId,
        createdAt: d.createdAt,
      });
    },
  },
  {
    // Vercel's "Delete an Alias" takes the alias id or the alias itself and answers {status: "SUCCESS"}.
    method: 'DELETE',
    path: /^\/v2\/aliases\/([^/]+)$/,
    handle: async (fake, { req, res, team }, m) => {
      await drain(req);
      const name = m[1]!;
      const id = fake.aliases.get(name);
      const d = id ? fake.deployments.get(id) : undefined;
      if (!d || (team && d.teamId !== team)) return error(res, 404, 'not_found', 'The alias was not found');
      fake.aliases.delete(name);
      return send(res, 200, { status: 'SUCCESS' });
    },
  },
  {
    method: 'GET',
    path: /^\/v9\/projects\/([^/]+)\/domains$/,
    handle: (fake, { res, team }, m) => {
      const p = projectOf(fake, m[1]!, team);
      if (!p) return error(res, 404, 'not_found', 'Project not found');
      const domains = (p.domains ?? []).map((name) => projectDomain(fake, name, p.id));
      return send(res, 200, { domains, pagination: { count: domains.length, next: null, prev: null } });
    },
  },
];
