import path from 'node:path';
import { parseInputs } from '../../src/action/inputs.js';

const env = { GITHUB_WORKSPACE: '/work/repo' } as NodeJS.ProcessEnv;
const parse = (inputs: Record<string, string>) => parseInputs((name) => inputs[name] ?? '', env);
const base = { 'broker-url': 'https://keyhole.example.com', project: 'marketing-site' };

test('defaults follow the contract', () => {
  expect(parse(base)).toEqual({
    brokerUrl: 'https://keyhole.example.com',
    project: 'marketing-site',
    target: 'preview',
    path: path.resolve('/work/repo'),
    workspace: path.resolve('/work/repo'),
    prebuilt: false,
    audience: 'https://keyhole.example.com',
    wait: true,
    timeoutMs: 30 * 60_000,
    comment: false,
    deploy: true,
    githubToken: '',
    alias: '',
    githubDeployment: false,
    pull: false,
    stage: false,
    cleanup: false,
    archive: 'auto',
    env: {},
    buildEnv: {},
    force: false,
    withCache: false,
    regions: [],
    meta: {},
    build: false,
    vercelVersion: '',
    checkPath: '',
    checkRequired: false,
  });
});

test('deploy options parse: KEY=value lines, comments and blank lines skipped, values kept whole', () => {
  const settings = parse({
    ...base,
    env: '# runtime\nAPI_URL=https://x/?a=b=c\n\nEMPTY=',
    'build-env': 'FLAG=1',
    regions: 'iad1,fra1',
    meta: 'team=web',
    force: 'true',
    'with-cache': 'true',
    archive: 'TGZ',
    build: 'true',
    'vercel-version': '58.1.0',
  });
  expect(settings).toMatchObject({
    env: { API_URL: 'https://x/?a=b=c', EMPTY: '' },
    buildEnv: { FLAG: '1' },
    regions: ['iad1', 'fra1'],
    meta: { team: 'web' },
    force: true,
    withCache: true,
    archive: 'tgz',
    build: true,
    vercelVersion: '58.1.0',
    prebuilt: true,
  });
});

test.each([
  [{ env: 'NOEQUALS' }, /Input "env": line 1 \("NOEQUALS"\) has no "="/],
  [{ env: 'A=1\nA=2' }, /line 2 sets A a second time/],
  [{ 'build-env': '1BAD=x' }, /"1BAD" is not a variable name/],
  [{ env: 'TOKEN= @vercel-secret' }, /the value of TOKEN starts with "@"/],
  [{ meta: 'GitHubRepo=x' }, /GitHubRepo is reserved/],
  [{ meta: 'bad key=x' }, /must be 1 to 100 letters/],
  [{ regions: 'iad1,iad1' }, /names a region twice/],
  [{ 'vercel-version': 'latest' }, /must be an exact version such as 64\.0\.2/],
  [{ build: 'true', 'vercel-version': '58.1.0', prebuilt: 'true' }, /remove prebuilt: true/],
  [
    { build: 'true', 'vercel-version': '58.1.0', cleanup: 'true' },
    /cannot be combined with promote, rollback or cleanup/,
  ],
])('the deploy option %o is refused: %s', (inputs, message) => {
  expect(() => parse({ ...base, ...inputs })).toThrow(message);
});

test('an env value never appears in an error', () => {
  expect(() => parse({ ...base, env: 'bad name=hunter2' })).toThrow(/bad name/);
  expect(() => parse({ ...base, env: 'bad name=hunter2' })).not.toThrow(/hunter2/);
});

test.each([
  [
    { cleanup: 'true', target: 'production' },
    /Input "cleanup": removes preview deployments; it needs target: preview/,
  ],
  [{ rollback: 'previous' }, /Input "rollback": points production back .* set target: production/],
  [
    { rollback: 'last week', target: 'production' },
    /"last week" is not a deployment id \(dpl_…\), URL or "previous"/,
  ],
  [
    { rollback: 'previous', target: 'production', stage: 'true' },
    /Input "rollback": rolls back to an existing deployment; remove stage: true/,
  ],
  [{ cleanup: 'true', promote: 'dpl_abc' }, /Input "cleanup": cannot be combined with promote/],
])('cleanup and rollback inputs %j are refused with what to change', (inputs, message) => {
  expect(() => parse({ ...base, ...inputs })).toThrow(message);
});

test('rollback takes previous, an id or a URL', () => {
  const production = { ...base, target: 'production' };
  expect(parse({ ...production, rollback: 'previous' }).rollback).toBe('previous');
  expect(parse({ ...production, rollback: 'https://marketing-site-abc-acme.vercel.app' }).rollback).toBe(
    'marketing-site-abc-acme.vercel.app',
  );
  expect(parse({ ...base, cleanup: 'true' }).cleanup).toBe(true);
});

test('the audience defaults to the origin of broker-url, without path or trailing slash', () => {
  expect(parse({ ...base, 'broker-url': 'https://keyhole.example.com/some/path/' }).audience).toBe(
    'https://keyhole.example.com',
  );
});

test.each([
  [{ 'broker-url': '' }, /Input "broker-url": is required/],
  [{ 'broker-url': 'keyhole.example.com' }, /is not a URL; write e\.g\. https:\/\//],
  [{ 'broker-url': 'http://keyhole.example.com' }, /must use https:\/\//],
  [{ 'broker-url': 'https://keyhole.example.com/?x=1' }, /must not contain a query/],
  [{ project: '' }, /Input "project": is required/],
  [{ project: '../etc' }, /is not a project name/],
  [{ target: 'Production' }, /"Production" must be .* in lower case; did you mean "production"\?/],
  [{ target: 'Prod' }, /did you mean "production"\?/],
  [{ target: 'Staging_EU' }, /did you mean "staging-eu"\?/],
  [{ target: 'préview!' }, /custom environment slug, in lower case$/],
  [{ path: '/etc' }, /must be relative to the workspace/],
  [{ path: '../other' }, /points outside the workspace/],
  [{ prebuilt: 'maybe' }, /Input "prebuilt": must be true or false/],
  [{ 'timeout-minutes': '0' }, /Input "timeout-minutes"/],
  [{ comment: 'true' }, /Input "github-token": is needed when comment is true/],
  [{ 'github-deployment': 'true' }, /Input "github-token": is needed when github-deployment is true/],
  [{ 'github-deployment': 'maybe' }, /Input "github-deployment": must be true or false/],
  [{ stage: 'true' }, /Input "stage": stages a production deployment; set target: production/],
  [
    { promote: 'dpl_abc' },
    /Input "promote": points production at a staged deployment; set target: production/,
  ],
  [{ target: 'production', promote: 'dpl_abc', stage: 'true' }, /Input "promote": .* remove stage: true/],
  [{ target: 'production', promote: 'not a url' }, /Input "promote": "not a url" is not a deployment id/],
  [{ target: 'production', promote: 'https://x.vercel.app/a' }, /is not a deployment id/],
  [{ pull: 'maybe' }, /Input "pull": must be true or false/],
])('%j is refused with what to write', (inputs, message) => {
  expect(() => parse({ ...base, ...inputs })).toThrow(message);
});

test('http is accepted on loopback for local testing', () => {
  expect(parse({ ...base, 'broker-url': 'http://127.0.0.1:8787' }).brokerUrl).toBe('http://127.0.0.1:8787');
});

test('every bad input is reported at once, each with what to write', () => {
  expect(() =>
    parse({
      ...base,
      'broker-url': 'http://keyhole.example.com',
      target: 'Production',
      path: '../x',
      wait: 'maybe',
    }),
  ).toThrow(
    [
      '4 inputs need a change:',
      '- Input "broker-url": must use https:// (the credential travels in it); plain http is accepted only on loopback',
      '- Input "target": "Production" must be preview, production or a custom environment slug, in lower case; did you mean "production"?',
      '- Input "path": "../x" points outside the workspace ' + path.resolve('/work/repo'),
      '- Input "wait": must be true or false, got "maybe"',
    ].join('\n'),
  );
});

test.each([
  ['dpl_AbC123', 'dpl_AbC123'],
  ['https://Marketing-Site-abc-acme.vercel.app', 'marketing-site-abc-acme.vercel.app'],
  ['https://marketing-site-abc-acme.vercel.app/', 'marketing-site-abc-acme.vercel.app'],
  ['marketing-site-abc-acme.vercel.app', 'marketing-site-abc-acme.vercel.app'],
])('promote accepts the deployment id or URL %s', (value, expected) => {
  expect(parse({ ...base, target: 'production', promote: value }).promote).toBe(expected);
});
