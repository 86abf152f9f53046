/** The fake's alias and project-domain answers, judged by @vercel/sdk's own response schemas. */
import { VercelCore } from '@vercel/sdk/core.js';
import { aliasesAssignAlias } from '@vercel/sdk/funcs/aliasesAssignAlias.js';
import { aliasesGetAlias } from '@vercel/sdk/funcs/aliasesGetAlias.js';
import { projectsGetProjectDomains } from '@vercel/sdk/funcs/projectsGetProjectDomains.js';
import { UPSTREAM_TOKEN } from '../../../src/local/world.js';
import { startVercelFake, type VercelFake } from '../../../src/local/vercel/index.js';

let fake: VercelFake;
let sdk: VercelCore;
let ready: string;

beforeAll(async () => {
  fake = await startVercelFake({ tokens: [UPSTREAM_TOKEN], queueMs: 0, buildMs: 0 });
  sdk = new VercelCore({ bearerToken: UPSTREAM_TOKEN, serverURL: fake.url });
  const created = await fetch(`${fake.url}/v13/deployments?teamId=team_abc123`, {
    method: 'POST',
    headers: { authorization: `Bearer ${UPSTREAM_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'marketing-site',
      project: 'prj_marketing',
      files: [{ file: 'a', data: 'a' }],
    }),
  });
  ready = ((await created.json()) as { id: string }).id;
});
afterAll(() => fake.close());

test('assign an alias and read it back: the answers parse as Vercel’s', async () => {
  const first = await aliasesAssignAlias(sdk, {
    id: ready,
    teamId: 'team_abc123',
    requestBody: { alias: 'pr-1.preview.acme.dev' },
  });
  expect(first.ok).toBe(true);
  expect(first.ok && first.value).toMatchObject({ alias: 'pr-1.preview.acme.dev', uid: expect.any(String) });
  const held = await aliasesGetAlias(sdk, { idOrAlias: 'pr-1.preview.acme.dev', teamId: 'team_abc123' });
  expect(held.ok && held.value).toMatchObject({ deploymentId: ready, projectId: 'prj_marketing' });
});

test('an unknown deployment or alias answers 404 not_found', async () => {
  const assigned = await aliasesAssignAlias(sdk, {
    id: 'dpl_missing',
    teamId: 'team_abc123',
    requestBody: { alias: 'x.acme.dev' },
  });
  expect(assigned.ok).toBe(false);
  expect(!assigned.ok && (assigned.error as { statusCode?: number }).statusCode).toBe(404);
  const free = await aliasesGetAlias(sdk, { idOrAlias: 'free.preview.acme.dev', teamId: 'team_abc123' });
  expect(!free.ok && (free.error as { statusCode?: number }).statusCode).toBe(404);
});

test('the project’s domains parse as Vercel’s list', async () => {
  const domains = await projectsGetProjectDomains(sdk, { idOrName: 'prj_marketing', teamId: 'team_abc123' });
  expect(domains.ok).toBe(true);
  expect(domains.ok && domains.value).toMatchObject({
    domains: [expect.objectContaining({ name: 'www.acme.dev' })],
  });
});
