/** Config texts and compiled configs for tests. */
import { parseConfig } from '../broker/policy/config.js';

export interface WorldUrls {
  issuer: string;
  jwksUrl: string;
  vercelApiUrl: string;
}

export const AUDIENCE = 'https://keyhole.example.com';

export function brokerYaml(urls: WorldUrls, extra = ''): string {
  return `audience: ${AUDIENCE}
issuer: ${urls.issuer}
jwks_url: ${urls.jwksUrl}
vercel_api_url: ${urls.vercelApiUrl}
credential_ttl_seconds: 600
projects:
  marketing-site:
    team_id: team_abc123
    project_id: prj_marketing
    token_env: VERCEL_TOKEN_MARKETING
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
${extra}`;
}

export const LOCAL_URLS: WorldUrls = {
  issuer: 'https://token.actions.githubusercontent.com',
  jwksUrl: 'https://token.actions.githubusercontent.com/.well-known/jwks',
  vercelApiUrl: 'https://api.vercel.com',
};

export const compiled = (text = brokerYaml(LOCAL_URLS)) => parseConfig(text, 'broker.yaml').config;
