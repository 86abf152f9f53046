/** Round 3 of config messages (issue 25 part 4): each test makes a mistake an admin makes and reads what the loader says. */
import { parseConfig } from '../../src/broker/policy/config.js';
import { ConfigError } from '../../src/broker/policy/yaml-file.js';
import { brokerYaml, LOCAL_URLS } from '../../src/local/config.js';

const base = brokerYaml(LOCAL_URLS);
const tokens = { VERCEL_TOKEN_MARKETING: 'x', VERCEL_TOKEN_BILLING: 'y' };

function refusal(text: string): string {
  try {
    parseConfig(text, 'broker.yaml', { env: tokens });
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected the config to be refused');
}

const warnings = (text: string, env: Record<string, string> = tokens) =>
  parseConfig(text, 'broker.yaml', { env }).warnings.map((w) => `${w.line}: ${w.path}: ${w.message}`);

describe('config messages, round 3', () => {
  test('a project pasted twice is one error naming both places, not one per key', () => {
    const billing = base.slice(base.indexOf('  billing:'));
    expect(refusal(base + billing)).toBe(
      [
        'broker.yaml: 1 error',
        'broker.yaml:35:3: error: projects.billing: duplicate project billing, first at 26:3; keep one (rename one of them if both are meant), the parser would silently use the last',
      ].join('\n'),
    );
  });

  test.each([
    [
      'a key after a plain value',
      '    token_env: VERCEL_TOKEN_BILLING',
      'broker.yaml:29:7: error: projects.billing.token_env: "token_env" is indented more than its siblings; align it with "project_id" on line 28 (column 5)',
    ],
    [
      'a key after a quoted value in a list item',
      '        targets: [preview]',
      'broker.yaml:34:11: error: projects.billing.allow[0].targets: "targets" is indented more than its siblings; align it with "repository_owner_id" on line 33 (column 9)',
    ],
    [
      'a top-level key',
      'credential_ttl_seconds: 600',
      'broker.yaml:5:3: error: credential_ttl_seconds: "credential_ttl_seconds" is indented more than its siblings; align it with "vercel_api_url" on line 4 (column 1)',
    ],
  ])('an over-indented key names its own line: %s', (_name, line, expected) => {
    expect(refusal(base.replace(line, `  ${line}`))).toBe(['broker.yaml: 1 error', expected].join('\n'));
  });

  test.each([
    [
      '*',
      '"*" is not a full ref; write "acme/marketing/.github/workflows/deploy.yml@refs/heads/**" for every branch',
    ],
    [
      'main',
      '"main" is not a full ref; write "acme/marketing/.github/workflows/deploy.yml@refs/heads/main" (refs are compared in full)',
    ],
  ])('workflows: a ref "@%s" gets the same "not a full ref" error refs get', (ref, expected) => {
    const message = refusal(base.replace('deploy.yml@refs/heads/main', `deploy.yml@${ref}`));
    expect(message).toContain(
      `broker.yaml:19:21: error: projects.marketing-site.allow[0].workflows[0]: ${expected}`,
    );
    expect(message.startsWith('broker.yaml: 1 error\n')).toBe(true);
  });

  test('the same project_id under two names warns at the second', () => {
    expect(warnings(base.replace('prj_billing', 'prj_marketing'))).toEqual([
      "28: projects.billing.project_id: prj_marketing is also project marketing-site's project_id: both names deploy the same Vercel project under different rules; keep one project with all the rules, or fix the id",
    ]);
  });

  test('an http:// audience warns with the https spelling; loopback (the local world) does not', () => {
    expect(warnings(base.replace('audience: https://', 'audience: http://'))).toEqual([
      '1: audience: is plain http://; the action sends credentials to the broker URL in clear (with public_url unset this URL is the broker URL); write https://keyhole.example.com',
    ]);
    expect(
      warnings(base.replace('audience: https://keyhole.example.com', 'audience: http://127.0.0.1:8787')),
    ).toEqual([]);
  });

  test('an unset github_app.private_key_env warns like an unset token_env', () => {
    const text = `${base}github_app:\n  app_id: "12"\n  private_key_env: GH_APP_KEY\n`;
    expect(warnings(text)).toEqual([
      "37: github_app.private_key_env: GH_APP_KEY is not set in this environment; keyhole-broker serve refuses to start until it holds the GitHub App's private key (the .pem file GitHub generated)",
    ]);
    expect(warnings(text, { ...tokens, GH_APP_KEY: 'pem' })).toEqual([]);
  });
});
