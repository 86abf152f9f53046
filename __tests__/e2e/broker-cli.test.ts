/** The committed broker bundle, driven through its CLI and HTTP contracts. */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { BROKER_BUNDLE, REPO_ROOT, startBrokerProcess } from '../../src/local/runner.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { UPSTREAM_TOKEN } from '../../src/local/world.js';

const exec = promisify(execFile);
let world: BundledWorld;

beforeAll(async () => {
  world = await startBundledWorld();
});
afterAll(() => world.close());

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return cliWith({}, ...args);
}

/** The bundle run with exactly `env` (plus PATH): what an admin's shell would hold. */
async function cliWith(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BROKER_BUNDLE, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const explain = (claims: string, target: string) =>
  cli(
    'policy',
    'explain',
    '--config',
    world.configPath,
    '--claims',
    claims,
    '--project',
    'marketing-site',
    '--target',
    target,
  );

async function exchange(body: Record<string, unknown>) {
  const response = await fetch(`${world.broker.url}/v1/exchange`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown> & {
      error?: { code: string; message: string; request_id: string };
    },
  };
}

/** The broker's JSON log lines once one matching `until` has arrived (stdout is flushed per event-loop turn). */
async function logLines(
  broker: { stdout(): string },
  until: (line: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>[]> {
  for (;;) {
    const lines = broker
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    if (lines.some(until)) return lines;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const token = async (claims: Record<string, string> = {}, audience: string = AUDIENCE) => {
  world.issuer.setJob(claims);
  return world.issuer.mint(audience);
};

describe('serve', () => {
  test('prints a ready line with the URL it listens on, and answers /healthz', async () => {
    expect(world.broker.stderr()).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    const response = await fetch(`${world.broker.url}/healthz`);
    expect(await response.json()).toEqual({ ok: true });
  });

  test('an allowed exchange returns the documented credential shape', async () => {
    const { status, body } = await exchange({
      token: await token(),
      project: 'marketing-site',
      target: 'preview',
    });
    expect(status).toBe(200);
    expect(body.credential).toMatch(/^khd_[A-Za-z0-9_]+$/);
    expect((body.credential as string).length).toBeLessThanOrEqual(1024);
    expect(body.expires_at).toBeGreaterThan(Date.now() + 590_000);
    expect(body.project).toEqual({ name: 'marketing-site', id: 'prj_marketing', team_id: 'team_abc123' });
    expect(body.target).toBe('preview');
  });

  test.each([
    ['a body that is not JSON', 'x', 400, 'bad_request'],
    ['a missing token', { project: 'marketing-site' }, 400, 'bad_request'],
  ])('%s → %s %s', async (_name, body, status, code) => {
    const response = await fetch(`${world.broker.url}/v1/exchange`, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    expect(response.status).toBe(status);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
  });

  test('invalid tokens get one indistinguishable 401 invalid_token', async () => {
    const answers = [
      await exchange({
        token: await token({}, 'https://github.com/acme'),
        project: 'marketing-site',
        target: 'preview',
      }),
      await exchange({ token: 'a.b.c', project: 'marketing-site', target: 'preview' }),
      await exchange({
        token: (await token()).slice(0, -4) + 'AAAA',
        project: 'marketing-site',
        target: 'preview',
      }),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(401);
      expect(answer.body.error!.code).toBe('invalid_token');
      expect(answer.body.error!.message).toBe(answers[0]!.body.error!.message);
      expect(answer.body.error!.request_id).toMatch(/^req_/);
    }
  });

  test('a replayed token is 401 token_replayed', async () => {
    const t = await token();
    expect((await exchange({ token: t, project: 'marketing-site', target: 'preview' })).status).toBe(200);
    const replay = await exchange({ token: t, project: 'marketing-site', target: 'preview' });
    expect(replay.status).toBe(401);
    expect(replay.body.error!.code).toBe('token_replayed');
  });

  test('denials are 403 policy_denied; unknown and forbidden projects answer alike', async () => {
    const unknown = await exchange({ token: await token(), project: 'no-such-project', target: 'preview' });
    const forbidden = await exchange({ token: await token(), project: 'billing', target: 'preview' });
    expect([unknown.status, forbidden.status]).toEqual([403, 403]);
    expect(unknown.body.error!.code).toBe('policy_denied');
    expect(forbidden.body.error!.message.replace('billing', 'P')).toBe(
      unknown.body.error!.message.replace('no-such-project', 'P'),
    );
    const production = await exchange({
      token: await token({ ref: 'refs/heads/feature' }),
      project: 'marketing-site',
      target: 'production',
    });
    expect(production.status).toBe(403);
    expect(production.body.error!.message).toMatch(/target production is not allowed|environment/);
  });

  test('every decision is an audit line, and no line carries a token or credential', async () => {
    const audit = world.broker.auditLines().filter((l) => l.event === 'exchange');
    expect(audit.length).toBeGreaterThanOrEqual(8);
    expect(audit.some((l) => l.decision === 'allow' && typeof l.credential_id === 'string')).toBe(true);
    expect(audit.some((l) => l.decision === 'deny' && l.reason === 'jti already used')).toBe(true);
    const all = world.broker.stdout() + world.broker.stderr();
    expect(all).not.toContain(UPSTREAM_TOKEN);
    expect(all).not.toMatch(/khd_[A-Za-z0-9]+_[0-9a-z]{20,}/);
    expect(all).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\./);
  });

  test('starts with --port 0 even when Vercel is unreachable, and exits 0 on SIGTERM', async () => {
    const configPath = path.join(world.dir, 'down.yaml');
    writeFileSync(configPath, world.configYaml({ vercel_api_url: 'http://127.0.0.1:9' }));
    const broker = await startBrokerProcess({ configPath, env: { VERCEL_TOKEN_BILLING: 'set' } });
    try {
      expect(broker.stderr()).toMatch(/ephemeral signing key/);
      expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
      // Reported at start, by name: not by the first deploy as a 503.
      const logs = await logLines(broker, (l) => l.msg === 'listening');
      expect(logs.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
        'project marketing-site cannot deploy: environment variable VERCEL_TOKEN_MARKETING (its token_env) is not set',
      ]);
    } finally {
      expect(await broker.stop()).toBe(0);
    }
  });
});

describe('policy check', () => {
  test('a valid file exits 0 and says so', async () => {
    const result = await cli('policy', 'check', '--config', world.configPath);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/ok: .* 2 project\(s\), 3 rule\(s\)/);
  });

  test('an invalid file exits 1 listing every error with the fix', async () => {
    const bad = path.join(world.dir, 'bad.yaml');
    writeFileSync(
      bad,
      'audience: x\nprojets: {}\nprojects:\n  a:\n    team_id: t\n    project_id: p\n    token_env: T\n    allow:\n      - repository: a/b\n        targets: [production]\n',
    );
    const result = await cli('policy', 'check', '--config', bad);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/projets: unknown key; did you mean "projects"\?/);
    expect(result.stderr).toMatch(/environments: a rule that allows production must name environments/);
  });

  test('a missing file or flag is a usage error', async () => {
    expect((await cli('policy', 'check')).code).toBe(1);
    expect((await cli('policy', 'check', '--config', '/nonexistent.yaml')).stderr).toMatch(/cannot read/);
  });
});

describe('policy explain', () => {
  test('names the rule that allows, or why each rule does not', async () => {
    const claims = path.join(world.dir, 'claims.json');
    const { defaultClaims } = await import('../../src/local/github-oidc.js');
    writeFileSync(claims, JSON.stringify(defaultClaims({ ref: 'refs/heads/feature' })));
    const denied = await explain(claims, 'production');
    expect(denied.code).toBe(0);
    expect(denied.stdout).toBe(
      [
        'DENIED: no rule of project marketing-site allows target production',
        '  rule 1 of marketing-site (acme/marketing → production): does not match',
        '      - the job has no GitHub environment; deploying to production needs "environment: production" on the job',
        '      - ref refs/heads/feature may not deploy to production',
        '      - workflow acme/marketing/.github/workflows/deploy.yml@refs/heads/feature may not deploy to production',
        '  rule 2 of marketing-site (acme/marketing → preview, staging): not for target production',
        'caller sees (403 policy_denied): the job has no GitHub environment; deploying to production needs "environment: production" on the job; ref refs/heads/feature may not deploy to production; workflow acme/marketing/.github/workflows/deploy.yml@refs/heads/feature may not deploy to production',
        '',
      ].join('\n'),
    );
    const allowed = await explain(claims, 'preview');
    expect(allowed.stdout.split('\n')[0]).toBe(
      'ALLOWED: project marketing-site, target preview, by rule 2 of marketing-site',
    );
  });

  test('accepts a raw JWT, decoded without trust', async () => {
    const jwt = path.join(world.dir, 'token.jwt');
    writeFileSync(jwt, await token());
    const result = await explain(jwt, 'preview');
    expect(result.stdout).toMatch(/^ALLOWED/);
  });
});

describe('policy check, as an admin meets it', () => {
  const write = (name: string, text: string) => {
    const file = path.join(world.dir, name);
    writeFileSync(file, text);
    return file;
  };
  const valid = () => readFileSync(world.configPath, 'utf8');

  test('a duplicate key names the key and where both occurrences are', async () => {
    const file = write(
      'dup.yaml',
      valid().replace('    project_id: prj_billing\n', '    project_id: prj_billing\n    team_id: team_x\n'),
    );
    const result = await cli('policy', 'check', '--config', file);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `${file}: 1 error\n${file}:29:5: error: projects.billing.team_id: duplicate key "team_id" (first at line 27:5); keep one, the parser would silently use the last\n`,
    );
  });

  test('a YAML syntax error carries file:line:column, the key it follows and the fix', async () => {
    const file = write(
      'tab.yaml',
      valid().replace('    project_id: prj_billing', '\tproject_id: prj_billing'),
    );
    const result = await cli('policy', 'check', '--config', file);
    expect([result.code, result.stderr]).toEqual([
      1,
      `${file}: 1 error\n${file}:28:1: error: projects.billing.team_id: YAML syntax: Tabs are not allowed as indentation; indent with spaces\n`,
    ]);
  });

  test('every error and warning in one pass, each with file:line:column and what to write', async () => {
    const file = write(
      'many.yaml',
      valid()
        .replace(/credential_ttl_seconds: .*/, 'credential_ttl_seconds: 7200')
        .replace('        environments: [production]\n', '')
        .replace(
          'refs: ["refs/heads/**", "refs/pull/*/merge"]',
          'refs: ["**", "^refs/heads/(main|dev)$", "refs/**"]',
        )
        .replace('events: [push, workflow_dispatch]', 'events: [push, pull-request]')
        .replace('targets: [preview]\n', 'targets: [Production]\n        environments: [production]\n'),
    );
    const tokens = { VERCEL_TOKEN_MARKETING: 'set', VERCEL_TOKEN_BILLING: 'set' };
    const result = await cliWith(tokens, 'policy', 'check', '--config', file);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')).toEqual([
      `${file}: 6 errors, 1 warning`,
      `${file}:5:1: error: credential_ttl_seconds: must be at most 3600 (got 7200)`,
      `${file}:13:9: error: projects.marketing-site.allow[0].environments: a rule that allows production must name environments, e.g. environments: [production], so the GitHub environment protection rules (required reviewers, deployment branches) gate it`,
      `${file}:19:24: error: projects.marketing-site.allow[0].events[1]: "pull-request" is not a GitHub event; did you mean "pull_request"?`,
      `${file}:24:16: error: projects.marketing-site.allow[1].refs[0]: "**" is not a full ref; write "refs/heads/**" for every branch (refs are compared in full; add "refs/tags/v*" or "refs/pull/*/merge" only if tags or pull requests may deploy)`,
      `${file}:24:22: error: projects.marketing-site.allow[1].refs[1]: "^refs/heads/(main|dev)$" looks like a regular expression, but patterns are globs (* = one segment, ** = any number); write one entry each: ["refs/heads/main", "refs/heads/dev"]`,
      `${file}:33:19: error: projects.billing.allow[0].targets[0]: "Production" is not a target; did you mean "production"?`,
      `${file}:24:49: warning: projects.marketing-site.allow[1].refs[2]: "refs/**" allows every branch, tag and pull request ref; write "refs/heads/**" if branches are meant`,
      '',
    ]);
  });

  test('run with the environment serve will have, it warns by name about each unset token_env', async () => {
    const result = await cliWith(
      { VERCEL_TOKEN_MARKETING: 'set' },
      'policy',
      'check',
      '--config',
      world.configPath,
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        `${world.configPath}:29:5: warning: projects.billing.token_env: VERCEL_TOKEN_BILLING is not set in this environment; project billing cannot deploy until it is (its exchanges answer 503)`,
        `ok: ${world.configPath}: 2 project(s), 3 rule(s), 1 warning(s)`,
        '',
      ].join('\n'),
    );
  });

  test('a token given as <NAME>_FILE or in --env-file counts as set, as serve reads it', async () => {
    const envFile = path.join(world.dir, 'broker.env');
    writeFileSync(envFile, 'VERCEL_TOKEN_BILLING=from-the-env-file\n');
    const withFile = await cliWith(
      { VERCEL_TOKEN_MARKETING_FILE: '/run/secrets/marketing' },
      'policy',
      'check',
      '--config',
      world.configPath,
      '--env-file',
      envFile,
    );
    expect([withFile.code, withFile.stdout]).toEqual([
      0,
      `ok: ${world.configPath}: 2 project(s), 3 rule(s), 0 warning(s)\n`,
    ]);
  });
});

describe('policy explain, the admin view', () => {
  const sample = ['--config', 'examples/broker.yaml', '--claims', 'examples/policy/claims.json'];

  test('the sample claims file in examples/ explains a feature-branch production request rule by rule', async () => {
    const result = await cli(
      'policy',
      'explain',
      ...sample,
      '--project',
      'marketing-site',
      '--target',
      'production',
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'DENIED: no rule of project marketing-site allows target production',
        '  rule 1 of marketing-site (acme/marketing → production): does not match',
        '      - the job has no GitHub environment; deploying to production needs "environment: production" on the job',
        '      - ref refs/heads/feature/new-pricing may not deploy to production',
        '      - workflow acme/marketing/.github/workflows/preview.yml@refs/heads/feature/new-pricing may not deploy to production',
        '  rule 2 of marketing-site (acme/marketing → preview): not for target production',
        'caller sees (403 policy_denied): the job has no GitHub environment; deploying to production needs "environment: production" on the job; ref refs/heads/feature/new-pricing may not deploy to production; workflow acme/marketing/.github/workflows/preview.yml@refs/heads/feature/new-pricing may not deploy to production',
        '',
      ].join('\n'),
    );
  });

  test('--exit-code makes DENIED exit 3; ALLOWED and the default stay 0', async () => {
    const args = [...sample, '--project', 'marketing-site'];
    expect((await cli('policy', 'explain', ...args, '--target', 'production', '--exit-code')).code).toBe(3);
    expect((await cli('policy', 'explain', ...args, '--target', 'production')).code).toBe(0);
    const allowed = await cli('policy', 'explain', ...args, '--exit-code');
    expect([allowed.code, allowed.stdout.split('\n')[0]]).toEqual([
      0,
      'ALLOWED: project marketing-site, target preview, by rule 2 of marketing-site',
    ]);
  });

  test('the usage shows the target default', async () => {
    const result = await cli('policy', 'explain', '--help');
    expect(result.stdout).toBe(
      'Usage: keyhole-broker policy explain --config <file> --claims <claims.json | token | -> --project <name> [--target <target>, default preview] [--exit-code: exit 3 when denied]\n',
    );
  });
});

describe('policy test, the policy intent under CI', () => {
  test('the example cases hold for the example config', async () => {
    const result = await cli(
      'policy',
      'test',
      '--config',
      'examples/broker.yaml',
      '--cases',
      'examples/policy/cases.yaml',
    );
    expect(result.code).toBe(0);
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe('8 cases: 8 passed, 0 failed');
  });

  test('a mismatch exits 1 with expected and actual side by side', async () => {
    const claims = path.join(world.dir, 'main.json');
    const { defaultClaims } = await import('../../src/local/github-oidc.js');
    writeFileSync(claims, JSON.stringify(defaultClaims()));
    const cases = path.join(world.dir, 'cases.yaml');
    writeFileSync(
      cases,
      [
        'defaults: { project: marketing-site, claims: main.json }',
        'cases:',
        '  - name: main deploys production through its environment',
        '    target: production',
        '    claims: { environment: production }',
        '    expect: allow',
        '    rule: 1',
        '  - name: main previews by the production rule (wrong on purpose)',
        '    target: preview',
        '    expect: allow',
        '    rule: 1',
        '  - name: production without the environment is allowed (wrong on purpose)',
        '    target: production',
        '    expect: allow',
        '',
      ].join('\n'),
    );
    const result = await cli('policy', 'test', '--config', world.configPath, '--cases', cases);
    expect(result.code).toBe(1);
    expect(result.stdout.split('\n')).toEqual([
      'ok    main deploys production through its environment  [marketing-site → production: allow by rule 1 of marketing-site]',
      `FAIL  main previews by the production rule (wrong on purpose)  [marketing-site → preview]  (${cases}:8)`,
      '      - expected: allow by rule 1 of marketing-site',
      '      + actual:   allow by rule 2 of marketing-site',
      `FAIL  production without the environment is allowed (wrong on purpose)  [marketing-site → production]  (${cases}:12)`,
      '      - expected: allow',
      '      + actual:   deny: the job has no GitHub environment; deploying to production needs "environment: production" on the job',
      '3 cases: 1 passed, 2 failed',
      '',
    ]);
  });

  test('a broken cases file is refused before any case runs, with file:line and the fix', async () => {
    const cases = path.join(world.dir, 'bad-cases.yaml');
    writeFileSync(
      cases,
      'cases:\n  - name: x\n    project: marketing-site\n    target: preview\n    expect: allowed\n    claim: { ref: refs/heads/main }\n',
    );
    const result = await cli('policy', 'test', '--config', world.configPath, '--cases', cases);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')).toEqual([
      `${cases}: 2 errors`,
      `${cases}:5:5: error: cases[0].expect: must be one of allow, deny; did you mean "allow"?`,
      `${cases}:6:5: error: cases[0].claim: unknown key; did you mean "claims"?`,
      '',
    ]);
  });
});

describe('claims an admin pastes', () => {
  test('explain and test name the claims that are missing and those that must be quoted', async () => {
    const claims = path.join(world.dir, 'partial.json');
    writeFileSync(
      claims,
      JSON.stringify({ repository: 'acme/marketing', repository_id: 123456789, ref: 'refs/heads/main' }),
    );
    const explained = await cli(
      'policy',
      'explain',
      '--config',
      world.configPath,
      '--claims',
      claims,
      '--project',
      'marketing-site',
    );
    expect(explained.code).toBe(1);
    expect(explained.stderr.split('\n')[0]).toBe(
      `keyhole-broker: --claims ${claims}: the claims lack repository_owner_id, ref_type, event_name, runner_environment, job_workflow_ref; repository_id must be quoted text, as GitHub sends them (e.g. "123456789") (paste a decoded GitHub OIDC token; docs/policy.md shows how to get one)`,
    );
    const cases = path.join(world.dir, 'partial-cases.yaml');
    writeFileSync(
      cases,
      'cases:\n  - name: partial\n    project: marketing-site\n    target: preview\n    claims: partial.json\n    expect: allow\n',
    );
    const tested = await cli('policy', 'test', '--config', world.configPath, '--cases', cases);
    expect(tested.code).toBe(1);
    expect(tested.stderr).toBe(
      `${cases}: 1 error\n${cases}:5:5: error: cases[0].claims: the claims lack repository_owner_id, ref_type, event_name, runner_environment, job_workflow_ref; repository_id must be quoted text, as GitHub sends them (e.g. "123456789"); write them here or under defaults.claims (a decoded GitHub OIDC token has them all)\n`,
    );
  });
});

describe('/v1/exchange, as a client and an auditor meet it', () => {
  test('a wrong method answers 405 with Allow: POST and a JSON error', async () => {
    const response = await fetch(`${world.broker.url}/v1/exchange`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('method_not_allowed');
    expect(body.error.message).toBe('/v1/exchange accepts POST only');
  });

  test('audit reasons say what was wrong; the client still gets one indistinguishable answer', async () => {
    const answer = await exchange({ token: 'abc.def', project: 'marketing-site', target: 'preview' });
    expect([answer.status, answer.body.error!.code]).toEqual([401, 'invalid_token']);
    const id = answer.body.error!.request_id;
    const line = (await logLines(world.broker, (l) => l.request_id === id)).find((l) => l.request_id === id);
    expect(line?.reason).toBe('not a JWT: 3 dot-separated segments expected, got 2');
    for (const audit of world.broker.auditLines()) expect(String(audit.reason)).not.toMatch(/^\w+$/);
  });

  test('an unreachable JWKS is named in the audit reason with its cause', async () => {
    // A port that was free a moment ago: nothing listens there, so the connection is refused.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const jwksUrl = `http://127.0.0.1:${port}/jwks`;
    const configPath = path.join(world.dir, 'no-jwks.yaml');
    writeFileSync(configPath, world.configYaml({ jwks_url: jwksUrl }));
    const broker = await startBrokerProcess({ configPath, env: {} });
    try {
      const response = await fetch(`${broker.url}/v1/exchange`, {
        method: 'POST',
        body: JSON.stringify({ token: await token(), project: 'marketing-site', target: 'preview' }),
      });
      expect(response.status).toBe(503);
      await logLines(broker, (l) => l.msg === 'audit');
      const reasons = broker.auditLines().map((l) => l.reason);
      expect(reasons).toEqual([`JWKS fetch failed: ${jwksUrl}: fetch failed: ECONNREFUSED`]);
    } finally {
      await broker.stop();
    }
  });
});

describe('docs/policy.md', () => {
  const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'policy.md'), 'utf8');
  const sessions = [...doc.matchAll(/```console\n\$ keyhole-broker (.+)\n([\s\S]*?)```/g)].map(
    (m) => [m[1]!, m[2]!] as const,
  );

  test('shows policy explain and policy test sessions', () => {
    expect(sessions.map(([command]) => command.split(' ').slice(0, 2).join(' '))).toEqual([
      'policy explain',
      'policy test',
    ]);
  });

  test.each(sessions)('prints what the bundle prints: keyhole-broker %s', async (command, output) => {
    const result = await cli(...command.split(' '));
    expect(result.stdout).toBe(output);
  });

  test('gives the one gh api command that prints both immutable ids', () => {
    expect(doc).toContain(
      "gh api repos/acme/marketing --jq '{repository_id: .id, repository_owner_id: .owner.id}'",
    );
  });
});

describe('usage errors, as a mistyped command line meets them', () => {
  test.each([
    ['serve', '--config', 'examples/broker.yaml', '--bogus'],
    ['policy', 'check', '--config', 'examples/broker.yaml', '--bogus'],
    ['policy', 'explain', '--config', 'examples/broker.yaml', '--bogus'],
    ['policy', 'test', '--config', 'examples/broker.yaml', '--bogus'],
    ['doctor', '--config', 'examples/broker.yaml', '--bogus'],
  ])(
    '%s %s with an unknown flag: that flag and the subcommand usage, never parseArgs wording',
    async (...args) => {
      const { code, stderr } = await cli(...args);
      const command = args.slice(0, args.indexOf('--config')).join(' ');
      expect(stderr).toMatch(
        new RegExp(`^keyhole-broker: unknown flag --bogus\\nUsage: keyhole-broker ${command} --config`),
      );
      expect(stderr).not.toMatch(/positional argument|place it at the end|ERR_PARSE_ARGS/);
      expect(code).toBe(1);
    },
  );

  test('a flag without its value names the flag', async () => {
    const { code, stderr } = await cli('policy', 'check', '--config');
    expect(stderr).toMatch(/^keyhole-broker: --config needs a value\nUsage: keyhole-broker policy check/);
    expect(stderr).not.toMatch(/argument missing/);
    expect(code).toBe(1);
  });
});
