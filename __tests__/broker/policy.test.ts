import { parse, stringify } from 'yaml';
import { parseConfig } from '../../src/broker/policy/config.js';
import { ConfigError } from '../../src/broker/policy/yaml-file.js';
import type { PolicyClaims } from '../../src/broker/oidc/claims.js';
import { compilePattern } from '../../src/broker/policy/compile.js';
import { KNOWN_KEYS } from '../../src/broker/policy/schema.js';
import { evaluatePolicy } from '../../src/broker/policy/evaluate.js';
import { explainDecision } from '../../src/broker/policy/explain.js';
import { defaultClaims } from '../../src/local/github-oidc.js';
import { brokerConfig, brokerYaml, compiled, LOCAL_URLS, toYaml } from '../../src/local/config.js';

const config = compiled();
const claims = (overrides: Record<string, string | undefined> = {}) =>
  defaultClaims(overrides) as unknown as PolicyClaims;
const production = { environment: 'production' };

function configErrors(text: string): string[] {
  try {
    parseConfig(text, 'broker.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  throw new Error('expected the config to be refused');
}

describe('policy decisions', () => {
  test.each([
    ['main to production through the protected environment', claims(production), 'production'],
    ['a feature branch to preview', claims({ ref: 'refs/heads/feature/x' }), 'preview'],
    [
      'a pull request merge ref to preview',
      claims({ ref: 'refs/pull/12/merge', event_name: 'pull_request' }),
      'preview',
    ],
    ['a custom environment slug', claims({ ref: 'refs/heads/dev' }), 'staging'],
    [
      'the repository name in another case (GitHub names are case-insensitive)',
      claims({
        ...production,
        repository: 'ACME/Marketing',
        job_workflow_ref: 'acme/marketing/.github/workflows/deploy.yml@refs/heads/main',
      }),
      'production',
    ],
    ['the environment name in another case', claims({ environment: 'Production' }), 'production'],
  ])('allows %s', (_name, c, target) => {
    const decision = evaluatePolicy(config, c, 'marketing-site', target);
    expect(decision.allowed).toBe(true);
  });

  // research/oidc.md §7.2: each row names the pitfall it defends against.
  test.each([
    [
      '#1 resurrection: same name, new repository id',
      claims({ ...production, repository_id: '999' }),
      'production',
      /not available|may not deploy project/,
    ],
    [
      '#2 transfer out of the org: owner id changed',
      claims({ ...production, repository_owner_id: '111' }),
      'production',
      /may not deploy project/,
    ],
    [
      '#3 sub is never used: a matching sub cannot stand in for the claims',
      claims({
        ...production,
        sub: 'repo:acme/marketing:environment:production',
        repository: 'evil/marketing',
      }),
      'production',
      /may not deploy project/,
    ],
    [
      '#4 glob: * does not cross /',
      claims({ ref: 'refs/pull/12/head/x', event_name: 'pull_request' }),
      'preview',
      /ref refs\/pull\/12\/head\/x may not deploy to preview/,
    ],
    [
      '#4 glob: main does not match main-evil',
      claims({ ref: 'refs/heads/main-evil', environment: 'production' }),
      'production',
      /ref refs\/heads\/main-evil may not deploy to production/,
    ],
    [
      '#5 a tag named main is not the main branch',
      claims({ ref: 'refs/tags/main', ref_type: 'tag', environment: 'production' }),
      'production',
      /refs\/tags\/main is not a branch/,
    ],
    [
      '#7 production without the protected environment',
      claims({}),
      'production',
      /has no GitHub environment/,
    ],
    [
      '#7 production from an unprotected environment',
      claims({ environment: 'preview' }),
      'production',
      /environment preview may not deploy to production/,
    ],
    [
      '#9 head_ref, workflow and actor are attacker-chosen and ignored',
      claims({
        ref: 'refs/heads/feature',
        head_ref: 'main',
        workflow: 'Deploy',
        actor: 'admin',
        environment: 'production',
      }),
      'production',
      /ref refs\/heads\/feature may not deploy to production/,
    ],
    [
      '#10 another workflow file in the same repository',
      claims({
        ...production,
        job_workflow_ref: 'acme/marketing/.github/workflows/evil.yml@refs/heads/main',
      }),
      'production',
      /workflow .*evil\.yml.* may not deploy to production/,
    ],
    [
      '#11 the pinned workflow at a ref the caller chose',
      claims({
        ...production,
        job_workflow_ref: 'acme/marketing/.github/workflows/deploy.yml@refs/heads/attacker',
      }),
      'production',
      /workflow .* may not deploy/,
    ],
    [
      '#12 pull_request_target is refused by default',
      claims({ ref: 'refs/heads/main', event_name: 'pull_request_target' }),
      'preview',
      /event pull_request_target may not deploy/,
    ],
    [
      '#12 workflow_run is refused by default',
      claims({ event_name: 'workflow_run' }),
      'preview',
      /event workflow_run/,
    ],
    [
      '#12 events outside the rule list',
      claims({ ...production, event_name: 'schedule' }),
      'production',
      /event schedule may not deploy \(allowed: push, workflow_dispatch\)/,
    ],
    [
      '#13 self-hosted runners are refused by default',
      claims({ runner_environment: 'self-hosted' }),
      'preview',
      /runner self-hosted may not deploy/,
    ],
    [
      '#19 numeric ids compare as exact strings',
      claims({ ...production, repository_id: '0123456789' }),
      'production',
      /may not deploy project/,
    ],
    ['a target no rule allows', claims({}), 'qa', /target qa is not allowed/],
  ])('denies %s', (_name, c, target, message) => {
    const decision = evaluatePolicy(config, c, 'marketing-site', target);
    expect(decision.allowed).toBe(false);
    if (!decision.allowed) expect(decision.message).toMatch(message);
  });

  test('#18 an unknown project and a forbidden one answer the same, revealing nothing', () => {
    const unknown = evaluatePolicy(config, claims(), 'no-such-project', 'preview');
    const forbidden = evaluatePolicy(config, claims(), 'billing', 'preview');
    expect(unknown.allowed || forbidden.allowed).toBe(false);
    if (!unknown.allowed && !forbidden.allowed) {
      expect(forbidden.message.replace('billing', 'X')).toBe(unknown.message.replace('no-such-project', 'X'));
      expect(forbidden.message).not.toMatch(/acme\/billing|555|prj_/);
    }
  });

  test('explain names rules as people count them, and says when a rule is for another repository', () => {
    // The feature-branch production case is asserted through the bundle in e2e/broker-cli.test.ts.
    const project = config.projects.get('billing');
    const text = explainDecision(
      evaluatePolicy(config, claims(), 'billing', 'preview'),
      project,
      'billing',
      'preview',
    );
    expect(text.split('\n').slice(0, 5)).toEqual([
      'DENIED: no rule of project billing allows target preview',
      '  rule 1 of billing (acme/billing → preview): not for this repository',
      '      - repository acme/marketing is not acme/billing',
      '      - repository_id 123456789 is not 555',
      'caller sees (403 policy_denied): repository acme/marketing may not deploy project "billing" (no rule of the broker\'s policy allows it)',
    ]);
    const allowed = explainDecision(
      evaluatePolicy(config, claims(production), 'marketing-site', 'production'),
      config.projects.get('marketing-site'),
      'marketing-site',
      'production',
    );
    expect(allowed.split('\n').slice(0, 2)).toEqual([
      'ALLOWED: project marketing-site, target production, by rule 1 of marketing-site',
      '  rule 1 of marketing-site (acme/marketing → production): matches',
    ]);
  });

  test("a rule for another target never lends its reasons to the caller's denial", () => {
    // The preview rule lists events; a production request from a feature branch by pull_request
    // must not be told about that list: fixing it would not make the request pass.
    const config = brokerConfig();
    config.projects['marketing-site']!.allow[1]!.events = ['pull_request'];
    const text = toYaml(config);
    const decision = evaluatePolicy(
      compiled(text),
      claims({ ref: 'refs/heads/feature', event_name: 'push' }),
      'marketing-site',
      'production',
    );
    expect(decision.allowed).toBe(false);
    if (!decision.allowed) {
      expect(decision.message).toMatch(/ref refs\/heads\/feature may not deploy to production/);
      expect(decision.message).not.toMatch(/event|preview/);
    }
  });

  test("a target none of the repository's rules allow says which targets they do allow", () => {
    const decision = evaluatePolicy(config, claims(), 'marketing-site', 'qa');
    expect(decision.allowed).toBe(false);
    if (!decision.allowed)
      expect(decision.message).toBe(
        'target qa is not allowed for acme/marketing (its rules allow production, preview, staging)',
      );
  });
});

describe('segment-aware globs', () => {
  test.each([
    ['refs/heads/*', 'refs/heads/main', true],
    ['refs/heads/*', 'refs/heads/feature/x', false],
    ['refs/heads/**', 'refs/heads/feature/x', true],
    ['refs/heads/release-*', 'refs/heads/release-1', true],
    ['refs/heads/release-*', 'refs/heads/release-1/x', false],
    ['refs/heads/main', 'refs/heads/main-evil', false],
    ['refs/heads/main', 'xrefs/heads/main', false],
    ['refs/pull/*/merge', 'refs/pull/1/merge', true],
    ['refs/pull/*/merge', 'refs/pull/1/2/merge', false],
  ])('%s against %s → %s', (pattern, value, expected) => {
    expect(compilePattern(pattern)(value)).toBe(expected);
  });
});

describe('policy check catches what an admin gets wrong, and says what to write', () => {
  const base = brokerYaml(LOCAL_URLS);
  test.each([
    [
      'an unknown top-level key, with a suggestion',
      base.replace('credential_ttl_seconds', 'credential_ttl_secs'),
      /credential_ttl_secs: unknown key; did you mean "credential_ttl_seconds"\?/,
    ],
    [
      'an unknown rule key',
      base.replace('targets: [preview]', 'targets: [preview]\n        branch: main'),
      /allow\[0\]\.branch: unknown key/,
    ],
    [
      'production without environments',
      base.replace('        environments: [production]\n', ''),
      /environments: a rule that allows production must name environments/,
    ],
    [
      'an unquoted numeric id',
      base.replace('repository_id: "555"', 'repository_id: 555'),
      /repository_id must be a quoted numeric string/,
    ],
    [
      'a short ref',
      base.replace('refs: [refs/heads/main]', 'refs: [main]'),
      /refs\[0\]: "main" is not a full ref; write "refs\/heads\/main"/,
    ],
    [
      'a regular expression as a pattern',
      base.replace('refs: [refs/heads/main]', 'refs: ["refs/heads/(main|dev)"]'),
      /"refs\/heads\/\(main\|dev\)" looks like a regular expression, .*write one entry each: \["refs\/heads\/main", "refs\/heads\/dev"\]/,
    ],
    [
      'plain http upstream',
      base.replace('https://api.vercel.com', 'http://api.vercel.com'),
      /vercel_api_url: must use https:\/\//,
    ],
    [
      'a custom issuer without jwks_url',
      base
        .replace(/jwks_url: .*\n/, '')
        .replace('https://token.actions.githubusercontent.com', 'https://ghes.example.com/_services/token'),
      /jwks_url: is required when issuer is not/,
    ],
    [
      'an issuer with a trailing slash',
      base.replace(
        'issuer: https://token.actions.githubusercontent.com',
        'issuer: https://token.actions.githubusercontent.com/',
      ),
      /issuer: must not end with "\/"/,
    ],
    [
      'a TTL over one hour',
      base.replace('credential_ttl_seconds: 600', 'credential_ttl_seconds: 7200'),
      /credential_ttl_seconds/,
    ],
    [
      'a project without rules',
      base.replace(/ {4}allow:\n {6}- repository: acme\/billing[\s\S]*$/, '    allow: []\n'),
      /add at least one rule/,
    ],
    ['a missing audience', base.replace(/^audience: .*\n/, ''), /audience: is required/],
    [
      'a duplicate key',
      base.replace('credential_ttl_seconds: 600', 'credential_ttl_seconds: 600\ncredential_ttl_seconds: 60'),
      /credential_ttl_seconds: duplicate key "credential_ttl_seconds" \(first at line 5:1\)/,
    ],
    ['a bad replay store', `${base}replay_store: mysql://x\n`, /replay_store: must be memory or redis/],
  ])('%s', (_name, text, expected) => {
    expect(configErrors(text).join('\n')).toMatch(expected);
  });

  test('reports every error at once', () => {
    const text = base
      .replace('credential_ttl_seconds', 'ttl')
      .replace('repository_id: "555"', 'repository_id: 555');
    expect(configErrors(text)).toHaveLength(2);
  });

  test('warns about names without immutable ids and about risky settings', () => {
    const text = brokerYaml(LOCAL_URLS, {
      projects: {
        billing: {
          allow: [
            {
              repository: 'acme/billing',
              self_hosted_runners: true,
              events: ['pull_request_target'],
              targets: ['preview'],
            },
          ],
        },
      },
    });
    const { warnings } = parseConfig(text, 'broker.yaml');
    const all = warnings.map((w) => `${w.path}: ${w.message}`).join('\n');
    expect(all).toMatch(/billing\.allow\[0\]: add repository_id and repository_owner_id/);
    expect(all).toMatch(/self_hosted_runners/);
    expect(all).toMatch(/pull_request_target runs with the base repository's identity/);
  });

  test('env_pull: a secret-looking name warns, a plain one does not, a duplicate or a bad name is an error', () => {
    const withPull = (names: string[]) =>
      brokerYaml(LOCAL_URLS, { projects: { billing: { env_pull: names } } });
    const warned = parseConfig(
      withPull([
        'NEXT_PUBLIC_API_URL',
        'STRIPE_SECRET_KEY',
        'GITHUB_TOKEN',
        'DB_PASSWORD',
        'DATABASE_URL',
        'SIGNING_KEY',
      ]),
      'broker.yaml',
    ).warnings.filter((w) => w.path.includes('env_pull'));
    expect(warned.map((w) => w.message.split(' ')[0])).toEqual([
      'STRIPE_SECRET_KEY',
      'GITHUB_TOKEN',
      'DB_PASSWORD',
      'DATABASE_URL',
      'SIGNING_KEY',
    ]);
    expect(warned[0]!.message).toMatch(/looks like a secret/);
    expect(
      parseConfig(withPull(['NEXT_PUBLIC_API_URL']), 'broker.yaml').config.projects.get('billing')!.envPull,
    ).toEqual(['NEXT_PUBLIC_API_URL']);
    expect(configErrors(withPull(['A', 'A'])).join('\n')).toMatch(/env_pull: lists a name twice/);
    expect(configErrors(withPull(['NOT-A-NAME'])).join('\n')).toMatch(
      /env_pull\[0\]: must be an environment variable name/,
    );
  });

  test('promote_environments that no production rule admits warn', () => {
    const text = brokerYaml(LOCAL_URLS, {
      projects: { 'marketing-site': { promote_environments: ['Production', 'prod-approve'] } },
    });
    const warned = parseConfig(text, 'broker.yaml').warnings.filter((w) =>
      w.path.includes('promote_environments'),
    );
    expect(warned.map((w) => w.message)).toEqual([
      "no production rule of marketing-site names the environment prod-approve, so no job can promote; add it to a production rule's environments",
    ]);
  });

  test('env_pull on production needs a rule that names environments', () => {
    const config = brokerConfig(LOCAL_URLS, { projects: { billing: { env_pull: ['NEXT_PUBLIC_API_URL'] } } });
    config.projects.billing!.allow[0]!.targets = ['preview', 'production'];
    const text = toYaml(config);
    expect(configErrors(text).join('\n')).toMatch(
      /environments: a rule that allows production must name environments/,
    );
  });

  test('the compiled policy is frozen', () => {
    const project = config.projects.get('marketing-site')!;
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(project.rules[0])).toBe(true);
  });
});

describe('policy check messages: where, what and what to write', () => {
  const base = brokerYaml(LOCAL_URLS);
  const message = (text: string) => {
    try {
      parseConfig(text, 'broker.yaml');
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    throw new Error('expected the config to be refused');
  };

  test('a duplicate key names the key and both lines', () => {
    const text = base.replace(
      '    project_id: prj_billing\n',
      '    project_id: prj_billing\n    team_id: team_x\n',
    );
    expect(message(text)).toBe(
      [
        'broker.yaml: 1 error',
        'broker.yaml:29:5: error: projects.billing.team_id: duplicate key "team_id" (first at line 27:5); keep one, the parser would silently use the last',
      ].join('\n'),
    );
  });

  test('a YAML syntax error carries file:line:column, the key it follows and the fix', () => {
    const text = base.replace('    project_id: prj_billing', '\tproject_id: prj_billing');
    expect(message(text)).toBe(
      [
        'broker.yaml: 1 error',
        'broker.yaml:28:1: error: projects.billing.team_id: YAML syntax: Tabs are not allowed as indentation; indent with spaces',
      ].join('\n'),
    );
  });

  test('schema errors, cross-field errors and warnings come in one pass, in file order, each with its line', () => {
    const text = base
      .replace(
        'issuer: https://token.actions.githubusercontent.com',
        'issuer: https://ghes.example.com/_services/token/',
      )
      .replace(/jwks_url: .*\n/, '')
      .replace('credential_ttl_seconds: 600', 'credential_ttl_seconds: "600"')
      .replace('        environments: [production]\n', '')
      .replace(
        'refs: ["refs/heads/**", "refs/pull/*/merge"]',
        'refs: ["**"]\n        events: [pull-request, workflow_run]',
      )
      .replace('targets: [preview]', 'targets: [Preview]')
      .replace(
        '    allow:\n      - repository: acme/billing',
        '    allow:\n      - repository: acme/billing\n        self_hosted_runners: yes',
      );
    expect(message(text)).toBe(
      [
        'broker.yaml: 9 errors, 2 warnings',
        "broker.yaml:2:1: error: jwks_url: is required when issuer is not https://token.actions.githubusercontent.com; write the issuer's JWKS URL (the broker never discovers keys from token input)",
        'broker.yaml:2:1: error: issuer: must not end with "/": issuers are compared exactly; write https://ghes.example.com/_services/token',
        'broker.yaml:4:1: error: credential_ttl_seconds: must be a number, not text; write 600 without quotes',
        'broker.yaml:12:9: error: projects.marketing-site.allow[0].environments: a rule that allows production must name environments, e.g. environments: [production], so the GitHub environment protection rules (required reviewers, deployment branches) gate it',
        "broker.yaml:22:9: error: projects.marketing-site.allow[1].targets: workflow_run runs on input a pull request author controls (a fork's build output, a comment), so a rule allowing it may deploy to preview only; move staging to a rule without these events",
        'broker.yaml:23:16: error: projects.marketing-site.allow[1].refs[0]: "**" is not a full ref; write "refs/heads/**" for every branch (refs are compared in full; add "refs/tags/v*" or "refs/pull/*/merge" only if tags or pull requests may deploy)',
        'broker.yaml:24:18: error: projects.marketing-site.allow[1].events[0]: "pull-request" is not a GitHub event; did you mean "pull_request"?',
        'broker.yaml:31:9: error: projects.billing.allow[0].self_hosted_runners: must be true or false (got the text "yes")',
        'broker.yaml:34:19: error: projects.billing.allow[0].targets[0]: "Preview" is not a target; did you mean "preview"?',
        'broker.yaml:19:9: warning: projects.marketing-site.allow[1].workflows: workflow_run is allowed only by a rule that pins the exact workflow, e.g. workflows: ["acme/marketing/.github/workflows/preview-deploy.yml@refs/heads/main"]; until then this rule refuses workflow_run',
        "broker.yaml:24:32: warning: projects.marketing-site.allow[1].events[1]: workflow_run runs with the base repository's identity on attacker-influenced input",
      ].join('\n'),
    );
  });

  test.each([
    ['credential_ttl_seconds: 7200', 'credential_ttl_seconds: must be at most 3600 (got 7200)'],
    ['credential_ttl_seconds: 0', 'credential_ttl_seconds: must be at least 1 (got 0)'],
    [
      'credential_ttl_seconds: soon',
      'credential_ttl_seconds: must be a whole number, e.g. 60 (got the text "soon")',
    ],
    ['credential_ttl_seconds: 1.5', 'credential_ttl_seconds: must be a whole number (got number 1.5)'],
    [
      'credential_ttl_seconds: 600\nreplay_store: Memory',
      'replay_store: must be memory or redis://host:port; did you mean "memory"?',
    ],
    ['credential_ttl_seconds: 600\naudience: ""', 'audience: must not be empty'],
  ])('no library texts: %s', (line, expected) => {
    const text = base
      .replace('credential_ttl_seconds: 600', line)
      .replace(/^audience: .*\n(?=[\s\S]*audience: "")/, '');
    const all = message(text);
    expect(all).toContain(expected);
    expect(all).not.toMatch(/Invalid input|Too (big|small)|expected number|received/);
  });

  test.each([
    ['targets: [Production]', 'targets[0]: "Production" is not a target; did you mean "production"?'],
    ['targets: preview', 'targets: must be a list; write [preview]'],
    [
      'events: [workflow-dispatch]',
      'events[0]: "workflow-dispatch" is not a GitHub event; did you mean "workflow_dispatch"?',
    ],
    ['refs: [main]', 'refs[0]: "main" is not a full ref; write "refs/heads/main"'],
    ['refs: ["heads/release"]', 'refs[0]: "heads/release" is not a full ref; write "refs/heads/release"'],
    [
      'refs: ["refs/heads/.*"]',
      'refs[0]: "refs/heads/.*" looks like a regular expression, but patterns are globs (* = one segment, ** = any number); write "refs/heads/**"',
    ],
    ['refs: ["^refs/heads/release-[0-9]+$"]', 'write "refs/heads/release-*"'],
    ['refs: ["refs/tags/v\\\\d+\\\\.\\\\d+"]', 'write "refs/tags/v*.*"'],
    [
      'refs: ["refs/heads/(?!main)"]',
      'write one glob per ref instead, e.g. "refs/heads/main", "refs/heads/release-*"',
    ],
    [
      'workflows: ["acme/m/.github/workflows/.*"]',
      'workflows[0]: "acme/m/.github/workflows/.*" looks like a regular expression',
    ],
  ])('advice that is right: %s', (line, expected) => {
    const text = base.replace(
      'targets: [preview]',
      line.startsWith('targets') ? line : `targets: [preview]\n        ${line}`,
    );
    expect(message(text)).toContain(expected);
  });

  test('globs that read like regular expressions elsewhere are left alone', () => {
    const config = brokerConfig();
    config.projects['marketing-site']!.allow[0]!.refs = ['refs/heads/main', 'refs/tags/v1.*'];
    const text = toYaml(config);
    expect(() => parseConfig(text, 'broker.yaml')).not.toThrow();
  });

  test('"refs/**" is a warning with the better spelling', () => {
    const text = base.replace('refs: ["refs/heads/**", "refs/pull/*/merge"]', 'refs: ["refs/**"]');
    const warnings = parseConfig(text, 'broker.yaml').warnings.map(
      (w) => `${w.line}: ${w.path}: ${w.message}`,
    );
    expect(warnings).toContain(
      '25: projects.marketing-site.allow[1].refs[0]: "refs/**" allows every branch, tag and pull request ref; write "refs/heads/**" if branches are meant',
    );
  });

  test.each([
    ['producton', 'production'],
    ['prod', 'production'],
    ['previews', 'preview'],
    ['Preview', 'preview'],
  ])('target %s is an error, not a warning: did you mean %s', (written, meant) => {
    const text = base.replace('targets: [preview]', `targets: [preview, ${written}]`);
    expect(message(text)).toContain(
      `error: projects.billing.allow[0].targets[1]: "${written}" is not a target; did you mean "${meant}"?`,
    );
  });

  test('a target that is neither preview, production nor declared says where to declare it', () => {
    const text = base.replace('targets: [preview]', 'targets: [preview, qa]');
    expect(message(text)).toContain(
      `error: projects.billing.allow[0].targets[1]: "qa" is not a target: write preview, production or a custom environment listed in the project's custom_environments (this project declares none); if "qa" is a Vercel custom environment, add it there`,
    );
    // The marketing project declares staging: a near miss of it is named.
    const staging = base.replace('targets: [preview, staging]', 'targets: [preview, stagin]');
    expect(message(staging)).toContain('"stagin" is not a target; did you mean "staging"?');
  });

  test('custom_environments and custom_environment_aliases: names checked, keys declared', () => {
    const declared = (extra: string) =>
      base.replace('    custom_environments: [staging]\n', `    custom_environments: [staging]\n${extra}`);
    expect(() =>
      parseConfig(
        declared('    custom_environment_aliases:\n      staging: ["staging-*.acme.dev"]\n'),
        'broker.yaml',
      ),
    ).not.toThrow();
    expect(
      message(declared('    custom_environment_aliases:\n      stagin: ["staging-*.acme.dev"]\n')),
    ).toContain(
      `projects.marketing-site.custom_environment_aliases.stagin: "stagin" is not one of this project's custom_environments (staging); did you mean "staging"?`,
    );
    const byId = base
      .replace('custom_environments: [staging]', 'custom_environments: [env_Abc123]')
      .replace('targets: [preview, staging]', 'targets: [preview, env_Abc123]');
    expect(() => parseConfig(byId, 'broker.yaml')).not.toThrow();
    expect(
      message(base.replace('custom_environments: [staging]', 'custom_environments: [production]')),
    ).toContain(
      "custom_environments[0]: is one of Vercel's own environments; list only custom environments here",
    );
    expect(
      message(base.replace('custom_environments: [staging]', 'custom_environments: [Staging]')),
    ).toContain('custom_environments[0]: must be a custom environment slug');
  });

  test('with an environment, each project whose token_env is unset there is a warning by name', () => {
    const { warnings } = parseConfig(base, 'broker.yaml', { env: { VERCEL_TOKEN_MARKETING: 'x' } });
    expect(warnings.map((w) => `${w.path}: ${w.message}`)).toEqual([
      'projects.billing.token_env: VERCEL_TOKEN_BILLING is not set in this environment; project billing cannot deploy until it is (its exchanges answer 503)',
    ]);
  });
});

describe('no library texts for any key, including keys added later', () => {
  const raw = parse(brokerYaml(LOCAL_URLS)) as Record<string, unknown>;
  const at = (prefix: string[], keys: string[]) => keys.map((k) => [...prefix, k]);
  const paths = [
    ...at([], KNOWN_KEYS.top),
    ...at(['limits'], KNOWN_KEYS.limits),
    ...at(['github_app'], KNOWN_KEYS.github_app),
    ...at(['projects', 'billing'], KNOWN_KEYS.project),
    ...at(['projects', 'billing', 'allow', '0'], KNOWN_KEYS.rule),
  ].map((p) => p.join('.'));
  const wrongValues: unknown[] = [1.5, -1, 'text', true, ['x'], { x: 1 }, '', 10 ** 12];

  test.each(paths)('%s', (dotted) => {
    const seen: string[] = [];
    for (const value of wrongValues) {
      const doc = structuredClone(raw);
      const keys = dotted.split('.');
      let node = doc as Record<string, unknown>;
      for (const key of keys.slice(0, -1)) {
        node[key] ??= {};
        node = node[key] as Record<string, unknown>;
      }
      node[keys.at(-1)!] = value;
      try {
        parseConfig(stringify(doc), 'broker.yaml');
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        seen.push(...error.issues.map((i) => `${i.path}: ${i.message}`));
      }
    }
    expect(
      seen.filter((m) =>
        /Invalid (input|option|string|key)|Too (big|small)|expected \w+, received|Unrecognized/.test(m),
      ),
    ).toEqual([]);
  });
});
