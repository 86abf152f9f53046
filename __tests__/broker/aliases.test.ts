/** Preview aliases: which patterns policy check accepts, and a gateway route that assigns only what they allow. */
import { createHash } from 'node:crypto';
import { parseConfig } from '../../src/broker/policy/config.js';
import {
  aliasPatternsOverlap,
  checkAliasPattern,
  compileAliasPattern,
  normalizeAlias,
} from '../../src/broker/policy/alias-patterns.js';
import { brokerYaml, LOCAL_URLS } from '../../src/local/config.js';
import { startWorld, type World } from '../../src/local/world.js';

describe('alias patterns', () => {
  test.each([
    ['*.preview.acme.dev', undefined],
    ['docs.acme-previews.dev', undefined],
    ['*.acme.dev', undefined],
    ['marketing-pr-1.vercel.app', undefined],
    ['*.vercel.app', /shared|public suffix/],
    ['*.team.vercel.app', /shared hosting domain vercel.app/],
    ['*.now.sh', /public suffix/],
    ['*.com', /public suffix/],
    ['*.co.uk', /public suffix/],
    ['*.com.au', /public suffix/],
    ['vercel.app', /public suffix/],
    ['com', /public suffix/],
    ['*.acme.co.uk', undefined],
    ['*.*.acme.dev', /whole leftmost label/],
    // Wave 3: a label may end in * (custom_environment_aliases' "staging-*.acme.dev").
    ['pr-*.acme.dev', undefined],
    ['pr-*.com', /public suffix/],
    ['pr-*.vercel.app', /public suffix/],
    ['*-pr.acme.dev', /leftmost label or end it/],
    ['p*r.acme.dev', /leftmost label or end it/],
    ['a.*.acme.dev', /whole leftmost label/],
    ['*.Preview.acme.dev', /lower-case/],
    ['*.preview.acme.dev.', /trailing dot/],
    ['*.xn--80ak6aa92e.com', /punycode/],
    ['*.préview.acme.dev', /not a DNS label/],
    ['*.acme_dev.com', /not a DNS label/],
    ['https://x.acme.dev', /not a DNS label/],
    ['*.-acme.dev', /not a DNS label/],
  ])('%s', (pattern, problem) => {
    const result = checkAliasPattern(pattern);
    if (problem === undefined) expect(result).toBeUndefined();
    else expect(result).toMatch(problem);
  });

  test.each([
    ['*.preview.acme.dev', 'pr-12.preview.acme.dev', true],
    ['*.preview.acme.dev', 'preview.acme.dev', false],
    ['*.preview.acme.dev', 'a.b.preview.acme.dev', false],
    ['*.preview.acme.dev', 'pr-12.preview.acme.dev.evil.com', false],
    ['*.preview.acme.dev', 'pr-12.xpreview.acme.dev', false],
    ['*.preview.acme.dev', 'xn--pr-1xa.preview.acme.dev', false],
    ['docs.acme-previews.dev', 'docs.acme-previews.dev', true],
    ['docs.acme-previews.dev', 'x.docs.acme-previews.dev', false],
    ['staging-*.acme.dev', 'staging-pr-1.acme.dev', true],
    ['staging-*.acme.dev', 'staging-.acme.dev', false],
    ['staging-*.acme.dev', 'staging.acme.dev', false],
    ['staging-*.acme.dev', 'xstaging-1.acme.dev', false],
    ['staging-*.acme.dev', 'staging-1.x.acme.dev', false],
  ])('%s matches %s: %s', (pattern, alias, expected) => {
    expect(compileAliasPattern(pattern)(alias)).toBe(expected);
  });

  test.each([
    ['PR-12.Preview.ACME.dev', 'pr-12.preview.acme.dev'],
    ['pr-12.preview.acme.dev.', /dot/],
    ['pr-12.prеview.acme.dev', /ASCII/], // a Cyrillic "е"
    ['https://pr-12.preview.acme.dev', /not a host name/],
    ['pr-12.preview.acme.dev:443', /not a host name/],
    ['pr-12.preview.acme.dev/x', /not a host name/],
    ['', /host name/],
    [42, /host name/],
  ])('normalise %s', (input, expected) => {
    const result = normalizeAlias(input);
    if (typeof expected === 'string') expect(result).toEqual({ alias: expected });
    else expect('error' in result && result.error).toMatch(expected);
  });

  test.each([
    ['*.preview.acme.dev', 'x.preview.acme.dev', true],
    ['*.preview.acme.dev', '*.preview.acme.dev', true],
    ['*.a.acme.dev', '*.b.acme.dev', false],
    ['*.acme.dev', '*.preview.acme.dev', false],
    ['staging-*.acme.dev', '*.acme.dev', true],
    ['staging-*.acme.dev', 'staging-eu-*.acme.dev', true],
    ['staging-*.acme.dev', 'staging-1.acme.dev', true],
    ['staging-*.acme.dev', 'pr-*.acme.dev', false],
    ['staging-*.acme.dev', 'staging.acme.dev', false],
  ])('%s overlaps %s: %s', (a, b, expected) => {
    expect(aliasPatternsOverlap(a, b)).toBe(expected);
    expect(aliasPatternsOverlap(b, a)).toBe(expected);
  });

  const withAliases = (marketing: string[], billing: string[]) =>
    brokerYaml(LOCAL_URLS, {
      projects: {
        'marketing-site': { preview_aliases: marketing },
        billing: { preview_aliases: billing },
      },
    });

  test('policy check refuses a whole-suffix pattern with the path and what to write', () => {
    expect(() => parseConfig(withAliases(['*.vercel.app'], []), 'broker.yaml')).toThrow(
      /projects\.marketing-site\.preview_aliases\[0\]: .*wildcards a whole public suffix.*\*\.preview\.acme\.dev/,
    );
  });

  test('policy check refuses patterns of two projects that overlap', () => {
    expect(() =>
      parseConfig(withAliases(['*.preview.acme.dev'], ['billing.preview.acme.dev']), 'broker.yaml'),
    ).toThrow(
      /projects\.billing\.preview_aliases\[0\]: .*overlaps "\*\.preview\.acme\.dev" of project marketing-site/,
    );
    expect(() => parseConfig(withAliases(['*.m.acme.dev'], ['*.b.acme.dev']), 'broker.yaml')).not.toThrow();
  });
});

const DOCS = `  docs:
    team_id: team_abc123
    project_id: prj_docs
    token_env: VERCEL_TOKEN_MARKETING
    preview_aliases: ["*.preview.acme.dev", "docs.acme-previews.dev"]
    allow:
      - repository: acme/marketing
        repository_id: "123456789"
        repository_owner_id: "987654"
        targets: [preview]
      - repository: acme/marketing
        repository_id: "123456789"
        repository_owner_id: "987654"
        targets: [production]
        environments: [production]
        refs: [refs/heads/main]
`;

describe('POST /v2/deployments/:id/aliases', () => {
  let world: World;
  let docs: string;
  let docsDeployment: string;

  const sha1 = (data: string) => createHash('sha1').update(data).digest('hex');
  let counter = 0;
  async function deploy(credential: string): Promise<string> {
    const data = `page ${counter++}`;
    const upload = await world.call(credential, 'POST', '/v2/files', {
      body: data,
      headers: { 'x-now-digest': sha1(data), 'x-now-size': String(data.length) },
    });
    expect(upload.status).toBe(200);
    const created = await world.call(credential, 'POST', '/v13/deployments', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'x',
        files: [{ file: 'index.html', sha: sha1(data), size: data.length }],
      }),
    });
    expect(created.status).toBe(200);
    const { id } = (await created.json()) as { id: string };
    // The fake assigns aliases to READY deployments only, as Vercel does.
    for (;;) {
      const state = world.fake.deployments.get(id)!;
      if (Date.now() - state.createdAt > 150) return id;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  const assign = (credential: string, id: string, body: unknown) =>
    world.call(credential, 'POST', `/v2/deployments/${id}/aliases`, {
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  const errorOf = async (response: Response) =>
    ((await response.json()) as { error: { code: string; message: string } }).error;

  /** Nothing but the reads that precede a decision reached Vercel, and no assignment. */
  const aliasCalls = () => world.fake.requests.filter((r) => r.path.endsWith('/aliases'));

  beforeAll(async () => {
    world = await startWorld({
      extraConfig: DOCS,
      fake: {
        projects: [
          { id: 'prj_marketing', name: 'marketing-site', teamId: 'team_abc123', domains: ['www.acme.dev'] },
          { id: 'prj_billing', name: 'billing', teamId: 'team_abc123' },
          { id: 'prj_docs', name: 'docs', teamId: 'team_abc123', domains: ['www.preview.acme.dev'] },
        ],
      },
    });
    docs = await world.credential({ ref: 'refs/heads/feature' }, 'docs', 'preview');
    docsDeployment = await deploy(docs);
  });
  afterAll(() => world.close());
  beforeEach(() => world.fake.clearRecord());

  test('a preview credential aliases its own deployment with a name from the patterns', async () => {
    const response = await assign(docs, docsDeployment, { alias: 'PR-7.Preview.Acme.dev' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ alias: 'pr-7.preview.acme.dev' });
    expect(world.fake.aliases.get('pr-7.preview.acme.dev')).toBe(docsDeployment);
    const [sent] = aliasCalls();
    expect(sent).toMatchObject({ method: 'POST', query: { teamId: 'team_abc123' } });
    expect(sent!.json).toEqual({ alias: 'pr-7.preview.acme.dev' });
    // Re-pointing the same stable name at a newer preview is the point of it.
    const next = await deploy(docs);
    const moved = await assign(docs, next, { alias: 'pr-7.preview.acme.dev' });
    expect(moved.status).toBe(200);
    expect(await moved.json()).toMatchObject({ oldDeploymentId: docsDeployment });
  });

  test.each([
    [
      'an alias outside the patterns',
      { alias: 'pr-7.acme.dev' },
      /does not match project docs's preview_aliases/,
    ],
    ['two labels where * is one', { alias: 'a.b.preview.acme.dev' }, /does not match/],
    ['a trailing dot', { alias: 'pr-7.preview.acme.dev.' }, /must not end with a dot/],
    ['a Unicode look-alike', { alias: 'pr-7.prеview.acme.dev' }, /plain ASCII/],
    ['a punycode label for *', { alias: 'xn--pr-7-5qa.preview.acme.dev' }, /does not match/],
    ['a redirect', { alias: 'pr-7.preview.acme.dev', redirect: 'evil.com' }, /field redirect is not allowed/],
    ['an extra field', { alias: 'pr-7.preview.acme.dev', teamId: 'team_other' }, /field teamId/],
    ['no alias', {}, /alias must be a host name/],
    ['a body that is not JSON', 'alias=x', /must be JSON/],
  ])('%s is refused before any upstream call', async (_, body, message) => {
    const response = await assign(docs, docsDeployment, body);
    expect(response.status).toBe(403);
    expect(await errorOf(response)).toMatchObject({
      code: 'forbidden',
      message: expect.stringMatching(message),
    });
    expect(world.fake.requests).toEqual([]);
  });

  test('another project’s deployment is refused without an upstream call', async () => {
    const marketing = await world.credential({ ref: 'refs/heads/feature' });
    const theirs = await deploy(marketing);
    world.fake.clearRecord();
    const response = await assign(docs, theirs, { alias: 'pr-8.preview.acme.dev' });
    expect(response.status).toBe(403);
    expect((await errorOf(response)).message).toMatch(/was not created by this credential/);
    expect(world.fake.requests).toEqual([]);
    expect(world.fake.aliases.has('pr-8.preview.acme.dev')).toBe(false);
  });

  test('a deployment of the same project made by another credential is refused', async () => {
    const other = await world.credential({ ref: 'refs/heads/other' }, 'docs', 'preview');
    world.fake.clearRecord();
    const response = await assign(other, docsDeployment, { alias: 'pr-9.preview.acme.dev' });
    expect(response.status).toBe(403);
    expect(world.fake.requests).toEqual([]);
  });

  test('a production credential may assign nothing, not even to its own deployment', async () => {
    const production = await world.credential(
      { ref: 'refs/heads/main', environment: 'production' },
      'docs',
      'production',
    );
    world.fake.clearRecord();
    const response = await assign(production, docsDeployment, { alias: 'pr-1.preview.acme.dev' });
    expect(response.status).toBe(403);
    expect((await errorOf(response)).message).toMatch(/only with a preview or custom environment credential/);
    expect(world.fake.requests).toEqual([]);
  });

  test('a project without preview_aliases assigns nothing', async () => {
    const marketing = await world.credential({ ref: 'refs/heads/feature' });
    const mine = await deploy(marketing);
    world.fake.clearRecord();
    const response = await assign(marketing, mine, { alias: 'pr-1.preview.acme.dev' });
    expect(response.status).toBe(403);
    expect((await errorOf(response)).message).toMatch(/has no preview_aliases/);
    expect(world.fake.requests).toEqual([]);
  });

  test('a production domain of the project that matches a pattern is never assigned', async () => {
    const response = await assign(docs, docsDeployment, { alias: 'www.preview.acme.dev' });
    expect(response.status).toBe(403);
    expect((await errorOf(response)).message).toMatch(/is a domain of project docs/);
    expect(aliasCalls()).toEqual([]);
    expect(world.fake.aliases.has('www.preview.acme.dev')).toBe(false);
  });

  test('an alias another project’s deployment holds is not taken', async () => {
    const marketing = await world.credential({ ref: 'refs/heads/feature' });
    const theirs = await deploy(marketing);
    world.fake.aliases.set('taken.preview.acme.dev', theirs);
    world.fake.clearRecord();
    const response = await assign(docs, docsDeployment, { alias: 'taken.preview.acme.dev' });
    expect(response.status).toBe(403);
    expect((await errorOf(response)).message).toMatch(/another project/);
    expect(aliasCalls()).toEqual([]);
    expect(world.fake.aliases.get('taken.preview.acme.dev')).toBe(theirs);
  });

  test('a deployment id in URL form is refused: only ids this credential created count', async () => {
    const url = world.fake.deployments.get(docsDeployment)!.url;
    const response = await assign(docs, url, { alias: 'pr-3.preview.acme.dev' });
    expect(response.status).toBe(403);
    expect(world.fake.requests).toEqual([]);
  });
});
