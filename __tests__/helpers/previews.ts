/** Broker config for preview tests: a `docs` project whose previews may take names under *.preview.acme.dev. */
export const DOCS_PROJECT = `  docs:
    team_id: team_abc123
    project_id: prj_docs
    token_env: VERCEL_TOKEN_MARKETING
    preview_aliases: ["*.preview.acme.dev"]
    allow:
      - repository: acme/marketing
        repository_id: "123456789"
        repository_owner_id: "987654"
        targets: [preview]
        refs: ["refs/heads/**", "refs/pull/*/merge"]
`;
