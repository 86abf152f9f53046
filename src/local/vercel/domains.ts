/**
 * The team's domains and where each is configured: `GET /v5/domains` (the team's apexes) and
 * `GET /v1/domains/:domain/project-domains` (every project domain under an apex, with its project),
 * shaped like @vercel/sdk's getdomainsop and getdomainprojectdomainsop models.
 */
import { error, send, type Route } from './http.js';
import type { FakeState } from './state.js';

/** The team domain a name sits under (the longest), or the last two labels when none does. */
export function apexOf(fake: FakeState, name: string): string {
  const host = name.replace(/^\*\./, '');
  const under = fake.domains
    .filter((d) => host === d || host.endsWith(`.${d}`))
    .sort((a, b) => b.length - a.length)[0];
  return under ?? host.split('.').slice(-2).join('.');
}

/** A project domain as Vercel lists it. */
export const projectDomain = (fake: FakeState, name: string, projectId: string) => ({
  name,
  apexName: apexOf(fake, name),
  projectId,
  redirect: null,
  redirectStatusCode: null,
  gitBranch: null,
  customEnvironmentId: null,
  createdAt: 1700000000000,
  updatedAt: 1700000000000,
  verified: true,
});

export const domainRoutes: Route[] = [
  {
    method: 'GET',
    path: /^\/v5\/domains$/,
    handle: (fake, { res }) => {
      const domains = fake.domains.map((name, i) => ({
        id: `dom_${i}`,
        name,
        verified: true,
        nameservers: ['ns1.vercel-dns.com', 'ns2.vercel-dns.com'],
        intendedNameservers: ['ns1.vercel-dns.com', 'ns2.vercel-dns.com'],
        creator: { id: 'usr_1', username: 'admin', email: 'admin@acme.dev' },
        teamId: fake.teams[0]?.id ?? null,
        userId: 'usr_1',
        boughtAt: null,
        createdAt: 1700000000000,
        expiresAt: null,
        serviceType: 'zeit.world',
        renew: false,
        zone: true,
      }));
      return send(res, 200, { domains, pagination: { count: domains.length, next: null, prev: null } });
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/domains\/([^/]+)\/project-domains$/,
    handle: (fake, { res }, m) => {
      const apex = decodeURIComponent(m[1]!).toLowerCase();
      if (!fake.domains.includes(apex)) return error(res, 404, 'not_found', 'Domain not found');
      const projectDomains = fake.projects.flatMap((p) =>
        (p.domains ?? [])
          .filter((name) => apexOf(fake, name) === apex)
          .map((name) => projectDomain(fake, name, p.id)),
      );
      return send(res, 200, {
        projectDomains,
        pagination: { count: projectDomains.length, next: null, prev: null },
      });
    },
  },
];
