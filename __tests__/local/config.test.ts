/** The config builder: the local world's config as an admin writes it, and overrides merged in by key. */
import { parse } from 'yaml';
import { parseConfig } from '../../src/broker/policy/config.js';
import { brokerConfig, brokerYaml, LOCAL_URLS, toYaml } from '../../src/local/config.js';

// The policy check tests patch this text and name lines and columns in it: its layout is pinned.
const WRITTEN_BY_HAND = `audience: https://keyhole.example.com
issuer: https://token.actions.githubusercontent.com
jwks_url: https://token.actions.githubusercontent.com/.well-known/jwks
vercel_api_url: https://api.vercel.com
credential_ttl_seconds: 600
projects:
  marketing-site:
    team_id: team_abc123
    project_id: prj_marketing
    token_env: VERCEL_TOKEN_MARKETING
    custom_environments: [staging]
    allow:
      - repository: acme/marketing
        repository_id: "123456789"
        repository_owner_id: "987654"
        targets: [production]
        environments: [production]
        refs: [refs/heads/main]
        workflows: ["acme/marketing/.github/workflows/deploy.yml@refs/heads/main"]
        events: [push, workflow_dispatch]
      - repository: acme/marketing
        repository_id: "123456789"
        repository_owner_id: "987654"
        targets: [preview, staging]
        refs: ["refs/heads/**", "refs/pull/*/merge"]
  billing:
    team_id: team_abc123
    project_id: prj_billing
    token_env: VERCEL_TOKEN_BILLING
    allow:
      - repository: acme/billing
        repository_id: "555"
        repository_owner_id: "987654"
        targets: [preview]
`;

test('the local world config is written as the docs write it', () => {
  expect(brokerYaml(LOCAL_URLS)).toBe(WRITTEN_BY_HAND);
  expect(brokerYaml(LOCAL_URLS, 'limits:\n  max_files: 5\n')).toBe(
    `${WRITTEN_BY_HAND}limits:\n  max_files: 5\n`,
  );
});

test('overrides merge objects by key, replace lists and values, and undefined removes a key', () => {
  const config = brokerConfig(LOCAL_URLS, {
    public_url: 'https://keyhole.example.com',
    jwks_url: undefined,
    limits: { max_files: 5 },
    projects: {
      'marketing-site': { require_dpop: true },
      billing: { allow: [{ repository: 'acme/b', targets: ['preview'] }] },
    },
  });
  expect(config.jwks_url).toBeUndefined();
  expect(config.projects['marketing-site']).toMatchObject({
    token_env: 'VERCEL_TOKEN_MARKETING',
    require_dpop: true,
  });
  expect(config.projects['marketing-site']!.allow).toHaveLength(2);
  expect(config.projects.billing!.allow).toEqual([{ repository: 'acme/b', targets: ['preview'] }]);
  expect(brokerConfig().projects['marketing-site']).not.toHaveProperty('require_dpop');
  // projects stays last, so text appended to the YAML may still add a project.
  expect(Object.keys(parse(toYaml(config)) as object).at(-1)).toBe('projects');
  expect(() => parseConfig(toYaml(config), 'broker.yaml')).not.toThrow();
});
