/** workflow_run, pull_request_target and issue_comment: preview only, through a rule that pins the exact workflow. */
import { parseConfig } from '../../src/broker/policy/config.js';
import { ConfigError } from '../../src/broker/policy/yaml-file.js';
import type { PolicyClaims } from '../../src/broker/oidc/claims.js';
import { evaluatePolicy } from '../../src/broker/policy/evaluate.js';
import { defaultClaims } from '../../src/local/github-oidc.js';
import { brokerConfig, brokerYaml, LOCAL_URLS, type RuleInput } from '../../src/local/config.js';

const DEPLOY = 'acme/marketing/.github/workflows/fork-preview-deploy.yml@refs/heads/main';

/** The base config with billing's one rule's `targets` replaced by `rule`'s settings. */
const BILLING_RULE = brokerConfig().projects.billing!.allow[0]!;
const withRule = (rule: Omit<RuleInput, 'repository'>) =>
  brokerYaml(LOCAL_URLS, { projects: { billing: { allow: [{ ...BILLING_RULE, ...rule }] } } });

const issues = (text: string) => {
  try {
    const { warnings } = parseConfig(text, 'broker.yaml');
    return { errors: [] as string[], warnings: warnings.map((w) => `${w.path}: ${w.message}`) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { errors: error.issues.map((i) => `${i.path}: ${i.message}`), warnings: [] };
  }
};

test.each(['workflow_run', 'pull_request_target', 'issue_comment'])(
  'policy check errors on %s with production',
  (event) => {
    const { errors } = issues(
      withRule({
        targets: ['preview', 'production'],
        environments: ['production'],
        events: [event],
        workflows: [DEPLOY],
      }),
    );
    expect(errors).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `billing\\.allow\\[0\\]\\.targets: ${event} runs on input .* preview only; move production`,
        ),
      ),
    );
  },
);

test('policy check errors on a risky event with a custom environment too', () => {
  const { errors } = issues(
    withRule({ targets: ['staging'], events: ['workflow_run'], workflows: [DEPLOY] }),
  );
  expect(errors.join('\n')).toMatch(/preview only; move staging/);
});

test.each([
  ['no workflows', {}],
  ['a wildcard workflow', { workflows: ['acme/billing/.github/workflows/*.yml@refs/heads/main'] }],
])('policy check warns on workflow_run with %s', (_, workflows) => {
  const { errors, warnings } = issues(
    withRule({ targets: ['preview'], events: ['workflow_run'], ...workflows }),
  );
  expect(errors).toEqual([]);
  expect(warnings).toContainEqual(
    expect.stringMatching(
      /billing\.allow\[0\]\.workflows: workflow_run is allowed only by a rule that pins the exact workflow/,
    ),
  );
});

describe('decisions', () => {
  const config = (workflows: Pick<RuleInput, 'workflows'>) =>
    parseConfig(
      withRule({ targets: ['preview'], refs: ['refs/heads/main'], events: ['workflow_run'], ...workflows }),
      'broker.yaml',
    ).config;
  const token = (overrides: Record<string, string> = {}) =>
    defaultClaims({
      repository: 'acme/billing',
      repository_id: '555',
      event_name: 'workflow_run',
      job_workflow_ref: 'acme/billing/.github/workflows/fork-preview-deploy.yml@refs/heads/main',
      ...overrides,
    }) as unknown as PolicyClaims;

  test('the pinned workflow deploys a preview', () => {
    const pinned = config({
      workflows: ['acme/billing/.github/workflows/fork-preview-deploy.yml@refs/heads/main'],
    });
    expect(evaluatePolicy(pinned, token(), 'billing', 'preview').allowed).toBe(true);
  });

  test.each([
    ['without workflows', {}],
    ['with a wildcard', { workflows: ['acme/billing/.github/workflows/*@refs/heads/main'] }],
  ])('a rule %s refuses workflow_run', (_, workflows) => {
    const decision = evaluatePolicy(config(workflows), token(), 'billing', 'preview');
    expect(decision.allowed).toBe(false);
    expect(!decision.allowed && decision.message).toMatch(
      /event workflow_run may deploy only to preview, through a rule that pins the exact workflow/,
    );
  });
});
