/** The committed broker bundle, driven through its CLI and HTTP contracts. */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BROKER_BUNDLE, startBrokerProcess } from '../../src/local/runner.js';
import { AUDIENCE } from '../helpers/config.js';
import { startBundledWorld, type BundledWorld } from '../helpers/bundled.js';
import { UPSTREAM_TOKEN } from '../helpers/world.js';

const exec = promisify(execFile);
let world: BundledWorld;

beforeAll(async () => {
  world = await startBundledWorld();
});
afterAll(() => world.close());

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BROKER_BUNDLE, ...args]);
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
    writeFileSync(
      configPath,
      (await import('node:fs'))
        .readFileSync(world.configPath, 'utf8')
        .replace(world.fake.url, 'http://127.0.0.1:9'),
    );
    const broker = await startBrokerProcess({ configPath, env: {} });
    expect(broker.stderr()).toMatch(/ephemeral signing key/);
    expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
    expect(await broker.stop()).toBe(0);
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
    expect(denied.stdout).toMatch(/^DENIED/);
    expect(denied.stdout).toMatch(/allow\[0\]: .*environment/);
    const allowed = await explain(claims, 'preview');
    expect(allowed.stdout).toMatch(/^ALLOWED: .* by allow\[1\]/);
  });

  test('accepts a raw JWT, decoded without trust', async () => {
    const jwt = path.join(world.dir, 'token.jwt');
    writeFileSync(jwt, await token());
    const result = await explain(jwt, 'preview');
    expect(result.stdout).toMatch(/^ALLOWED/);
  });
});
