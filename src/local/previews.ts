/** The world of preview tests: a `docs` project whose previews may take names under *.preview.acme.dev. */
import type { ProjectInput } from './config.js';
import { startBundledWorld, type BundledWorld } from './bundled.js';

export const DOCS_PROJECT: ProjectInput = {
  team_id: 'team_abc123',
  project_id: 'prj_docs',
  token_env: 'VERCEL_TOKEN_MARKETING',
  preview_aliases: ['*.preview.acme.dev'],
  allow: [
    {
      repository: 'acme/marketing',
      repository_id: '123456789',
      repository_owner_id: '987654',
      targets: ['preview'],
      refs: ['refs/heads/**', 'refs/pull/*/merge'],
    },
  ],
};

/** The bundled world with `docs` beside `marketing-site`; docs' production domain sits under its pattern. */
export const startPreviewWorld = (): Promise<BundledWorld> =>
  startBundledWorld({
    config: { projects: { docs: DOCS_PROJECT } },
    fake: {
      projects: [
        { id: 'prj_marketing', name: 'marketing-site', teamId: 'team_abc123' },
        { id: 'prj_docs', name: 'docs', teamId: 'team_abc123', domains: ['www.preview.acme.dev'] },
      ],
    },
  });
