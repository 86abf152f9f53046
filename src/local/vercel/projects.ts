/** Projects, their environment variables (`vercel env pull` and the env list), teams and the user. */
import { error, send, type Route } from './http.js';
import { lastAliasRequest, productionOf } from './lifecycle.js';
import { customEnvironmentOf, projectOf, type FakeState } from './state.js';
import type { FakeEnvVar, FakeProject } from './types.js';

/** What `/v3/env/pull` answers: the target's variables (branch overrides win), sensitive ones empty. */
function pulledEnv(fake: FakeState, projectId: string, target: string, branch: string | undefined) {
  const values: Record<string, string> = {};
  const applies = (v: FakeEnvVar) => v.projectId === projectId && v.target.includes(target);
  for (const v of fake.env.filter((x) => applies(x) && !x.gitBranch))
    values[v.key] = v.type === 'sensitive' ? '' : v.value;
  for (const v of fake.env.filter((x) => applies(x) && x.gitBranch !== undefined && x.gitBranch === branch))
    values[v.key] = v.type === 'sensitive' ? '' : v.value;
  // Vercel adds a fresh OIDC token for the project to every pull (the CLI's `oidcTokenOnly` path reads it).
  return {
    env: { ...values, VERCEL_OIDC_TOKEN: `eyJhbGciOiJSUzI1NiJ9.fake-oidc-${projectId}-${target}.sig` },
    buildEnv: { ...values },
  };
}

function project(fake: FakeState, p: FakeProject) {
  const production = productionOf(fake, p.id);
  return {
    id: p.id,
    name: p.name,
    accountId: p.teamId,
    framework: p.framework ?? null,
    rootDirectory: p.rootDirectory ?? null,
    buildCommand: null,
    devCommand: null,
    installCommand: null,
    outputDirectory: null,
    nodeVersion: '24.x',
    createdAt: 1700000000000,
    updatedAt: 1700000000000,
    directoryListing: false,
    sourceFilesOutsideRootDirectory: true,
    targets: production ? { production: { id: production, url: fake.deployments.get(production)?.url } } : {},
    lastAliasRequest: lastAliasRequest(fake, p.id),
    // What a real project answer also carries and a deploy-only client must never see:
    env: [{ key: 'DATABASE_URL', value: 'postgres://secret-in-project-settings', target: ['production'] }],
    link: {
      type: 'github',
      repo: 'marketing',
      org: 'acme',
      deployHooks: [{ url: 'https://api.vercel.com/v1/integrations/deploy/secret-hook' }],
    },
  };
}

export const projectRoutes: Route[] = [
  {
    method: 'GET',
    path: /^\/v9\/projects\/([^/]+)$/,
    handle: (fake, { res, team }, m) => {
      const p = projectOf(fake, m[1]!, team);
      if (!p) return error(res, 404, 'not_found', 'Project not found');
      return send(res, 200, project(fake, p));
    },
  },
  {
    method: 'GET',
    path: /^\/v3\/env\/pull\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?$/,
    handle: (fake, { res, team }, m) => {
      const p = projectOf(fake, m[1]!, team);
      if (!p) return error(res, 404, 'not_found', 'Project not found');
      const named = decodeURIComponent(m[2] ?? 'development');
      const custom = customEnvironmentOf(p, named);
      if (!['production', 'preview', 'development'].includes(named) && !custom)
        return error(res, 404, 'not_found', `Environment "${named}" not found`);
      const target = custom?.slug ?? named;
      const branch = m[3] === undefined ? undefined : decodeURIComponent(m[3]);
      return send(res, 200, pulledEnv(fake, p.id, target, branch));
    },
  },
  {
    method: 'GET',
    path: /^\/v10\/projects\/([^/]+)\/env$/,
    handle: (fake, { res, query, team }, m) => {
      const p = projectOf(fake, m[1]!, team);
      if (!p) return error(res, 404, 'not_found', 'Project not found');
      const decrypt = query.get('decrypt') === 'true';
      return send(res, 200, {
        envs: fake.env
          .filter((v) => v.projectId === p.id)
          .map((v, i) => ({
            id: `env_${i}`,
            key: v.key,
            type: v.type,
            target: v.target,
            ...(v.gitBranch ? { gitBranch: v.gitBranch } : {}),
            value:
              v.type === 'sensitive'
                ? ''
                : decrypt
                  ? v.value
                  : `enc:${Buffer.from(v.value).toString('base64')}`,
            decrypted: decrypt && v.type !== 'sensitive',
          })),
      });
    },
  },
  {
    method: 'GET',
    path: /^\/teams\/([^/]+)$/,
    handle: (fake, { res }, m) => {
      const t = fake.teams.find((x) => x.id === m[1]);
      return t
        ? send(res, 200, { id: t.id, slug: t.slug, name: t.slug })
        : error(res, 404, 'not_found', 'Team not found');
    },
  },
  {
    method: 'GET',
    path: /^\/v2\/user$/,
    handle: (fake, { res }) =>
      send(res, 200, {
        user: {
          id: 'usr_fake',
          username: 'owner',
          email: 'owner@example.com',
          defaultTeamId: fake.teams[0]?.id,
        },
      }),
  },
];
