/** A project `web` whose Vercel variables include secrets, and whose env_pull lists two public names. */
import type { ProjectInput } from './config.js';
import type { FakeEnvVar } from './vercel/index.js';

export const WEB_PROJECT: ProjectInput = {
  team_id: 'team_abc123',
  project_id: 'prj_web',
  token_env: 'VERCEL_TOKEN_MARKETING',
  env_pull: ['NEXT_PUBLIC_API_URL', 'NEXT_PUBLIC_BRANCH_FLAG', 'NEXT_PUBLIC_FEATURE_SEED'],
  allow: [
    {
      repository: 'acme/marketing',
      repository_id: '123456789',
      repository_owner_id: '987654',
      targets: ['production'],
      environments: ['production'],
      refs: ['refs/heads/main'],
      workflows: ['acme/marketing/.github/workflows/deploy.yml@refs/heads/main'],
    },
    {
      repository: 'acme/marketing',
      repository_id: '123456789',
      repository_owner_id: '987654',
      targets: ['preview'],
      refs: ['refs/heads/**'],
    },
  ],
};

/** Secrets the fake holds for prj_web: none may ever reach a client, not even as a name. */
export const WEB_SECRETS = ['postgres://web-db-secret', 'sk_live_web_sensitive', 'whsec_web_encrypted'];
export const WEB_ENV: FakeEnvVar[] = [
  {
    projectId: 'prj_web',
    key: 'NEXT_PUBLIC_API_URL',
    value: 'https://api.preview.acme.example',
    type: 'plain',
    target: ['preview'],
  },
  {
    projectId: 'prj_web',
    key: 'NEXT_PUBLIC_API_URL',
    value: 'https://api.acme.example',
    type: 'encrypted',
    target: ['production'],
  },
  {
    projectId: 'prj_web',
    key: 'DATABASE_URL',
    value: WEB_SECRETS[0]!,
    type: 'encrypted',
    target: ['production', 'preview'],
  },
  {
    projectId: 'prj_web',
    key: 'STRIPE_SECRET_KEY',
    value: WEB_SECRETS[1]!,
    type: 'sensitive',
    target: ['production', 'preview'],
  },
  {
    projectId: 'prj_web',
    key: 'WEBHOOK_SIGNING_SECRET',
    value: WEB_SECRETS[2]!,
    type: 'encrypted',
    target: ['production', 'preview'],
  },
  {
    // Listed, but sensitive: Vercel answers it empty, so it reaches the workspace as "".
    projectId: 'prj_web',
    key: 'NEXT_PUBLIC_FEATURE_SEED',
    value: 'seed-sensitive-value',
    type: 'sensitive',
    target: ['production'],
  },
  {
    projectId: 'prj_web',
    key: 'NEXT_PUBLIC_BRANCH_FLAG',
    value: 'feature-x-on',
    type: 'plain',
    target: ['preview'],
    gitBranch: 'feature/x',
  },
];
export const WEB_FAKE_PROJECTS = [
  { id: 'prj_marketing', name: 'marketing-site', teamId: 'team_abc123', framework: null },
  { id: 'prj_billing', name: 'billing', teamId: 'team_abc123', framework: null },
  { id: 'prj_web', name: 'web', teamId: 'team_abc123', framework: null },
];
