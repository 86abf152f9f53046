/**
 * Aliases owned elsewhere (issue 24, part 6; docs/threat-model.md "Wave 3: hostile inputs", 6): a
 * name configured on another project of the team, exactly or by a wildcard, is refused before any
 * alias write even when no deployment holds it yet; Vercel not saying fails closed.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { DOCS_PROJECT } from '../../src/local/previews.js';

let world: BundledWorld;
beforeAll(async () => {
  world = await startBundledWorld({
    config: {
      projects: {
        docs: { ...DOCS_PROJECT, preview_aliases: ['*.preview.acme.dev', '*.shop.preview.acme.dev'] },
      },
    },
    fake: {
      domains: ['acme.dev'],
      projects: [
        { id: 'prj_marketing', name: 'marketing-site', teamId: 'team_abc123' },
        // docs' own wildcard: its previews' names are its own.
        {
          id: 'prj_docs',
          name: 'docs',
          teamId: 'team_abc123',
          domains: ['www.preview.acme.dev', '*.preview.acme.dev'],
        },
        // Not in the broker's config: a project of the same team with names under docs' patterns.
        {
          id: 'prj_blog',
          name: 'blog',
          teamId: 'team_abc123',
          domains: ['blog.preview.acme.dev', '*.shop.preview.acme.dev'],
        },
      ],
    },
  });
});
afterAll(() => world.close());
beforeEach(() => world.fake.clearRecord());

function pullRequestJob(number: number) {
  const workspace = mkdtempSync(path.join(world.dir, 'owners-'));
  mkdirSync(path.join(workspace, 'site'));
  writeFileSync(path.join(workspace, 'site', 'index.html'), `pull request ${number}`);
  const event = path.join(workspace, 'event.json');
  writeFileSync(event, JSON.stringify({ pull_request: { number, head: { ref: 'feature/x' } } }));
  return {
    workspace,
    env: {
      GITHUB_EVENT_PATH: event,
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_HEAD_REF: 'feature/x',
      GITHUB_REF_NAME: `${number}/merge`,
    },
    claims: { ref: `refs/pull/${number}/merge`, event_name: 'pull_request' },
  };
}

const aliasWrites = () =>
  world.fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/aliases'));

test("a name under the pinned project's own wildcard domain is assigned", async () => {
  const run = await world.run(
    { project: 'docs', path: 'site', alias: 'pr-33.preview.acme.dev' },
    pullRequestJob(33),
  );
  expect(run.stderr + run.stdout).not.toMatch(/::error::/);
  expect(run.code).toBe(0);
  expect(aliasWrites()).toHaveLength(1);
  expect(world.fake.aliases.has('pr-33.preview.acme.dev')).toBe(true);
});

test.each([
  ['blog.preview.acme.dev', 'blog.preview.acme.dev'],
  ['deals.shop.preview.acme.dev', '\\*\\.shop\\.preview\\.acme\\.dev'],
])(
  'a name configured on another project (%s), assigned to no deployment, is refused 403 naming that project, with no alias write',
  async (alias, as) => {
    expect(world.fake.aliases.has(alias)).toBe(false);
    const run = await world.run({ project: 'docs', path: 'site', alias }, pullRequestJob(31));
    expect(run.code).not.toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(
        `403 forbidden: alias ${alias.replaceAll('.', '\\.')} is configured on another project \\(prj_blog, as ${as}\\)`,
      ),
    );
    expect(aliasWrites()).toEqual([]);
    expect(world.fake.aliases.has(alias)).toBe(false);
  },
);

// Last, and the later lookup first: a fault left over (the action retries 502 a few times) may only
// make an earlier lookup of a later test fail.
test.each(['/v1/domains/', '/v5/domains'])(
  'Vercel failing the domain lookup (%s) fails closed: no alias write',
  async (lookup) => {
    world.fake.inject({ kind: 500, method: 'GET', path: lookup, times: 20 });
    const run = await world.run(
      { project: 'docs', path: 'site', alias: 'pr-32.preview.acme.dev' },
      pullRequestJob(32),
    );
    expect(run.code).not.toBe(0);
    // The broker's 502 (the action retried it, then failed the step); Vercel was asked, nothing written.
    expect(run.stdout).toMatch(/::error::HTTP 502/);
    expect(world.fake.requests.some((r) => r.method === 'GET' && r.path.startsWith(lookup))).toBe(true);
    expect(aliasWrites()).toEqual([]);
    expect(world.fake.aliases.has('pr-32.preview.acme.dev')).toBe(false);
  },
);
