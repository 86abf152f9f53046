/** Compiles the parsed config once into a frozen policy: globs become anchored matchers, names are folded. */
import picomatch from 'picomatch';
import type { ConfigFile, Limits, RuleFile } from './schema.js';

export type Matcher = (value: string) => boolean;

export interface CompiledRule {
  index: number;
  repository: string; // lower-case, for comparison
  repositoryDisplay: string;
  repositoryId?: string;
  repositoryOwnerId?: string;
  targets: readonly string[];
  environments?: readonly string[]; // lower-case
  refs?: readonly { pattern: string; match: Matcher }[];
  workflows?: readonly { pattern: string; match: Matcher }[];
  events?: readonly string[];
  /** True when a `refs` pattern names tags or pull refs; otherwise only branches may deploy. */
  allowsNonBranchRefs: boolean;
  selfHostedRunners: boolean;
}

export interface CompiledProject {
  name: string;
  teamId: string;
  projectId: string;
  tokenEnv: string;
  allowProjectSettings: boolean;
  rules: readonly CompiledRule[];
}

export interface CompiledConfig {
  audience: string;
  issuer: string;
  jwksUrl: string;
  vercelApiUrl: string;
  credentialTtlSeconds: number;
  signingKeyEnv: string;
  replayStore: string;
  limits: Limits;
  projects: ReadonlyMap<string, CompiledProject>;
}

/** Events that run attacker-influenced code with the base repository's identity (research/oidc.md §7.2 #12). */
export const RISKY_EVENTS = ['pull_request_target', 'workflow_run', 'issue_comment'] as const;

/**
 * `*` matches within one segment and `**` any number of segments; every other glob feature
 * (braces, brackets, extglobs, negation) is off so a pattern means only what it plainly says.
 * picomatch anchors the compiled expression on both ends.
 */
export function compilePattern(pattern: string): Matcher {
  const isMatch = picomatch(pattern, {
    dot: true,
    nobrace: true,
    nobracket: true,
    noextglob: true,
    nonegate: true,
    strictSlashes: true,
  });
  return (value) => isMatch(value);
}

/** ASCII-only case folding: `toLocaleLowerCase` would let Unicode look-alikes compare equal. */
export function foldCase(value: string): string {
  return value.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function compileRule(rule: RuleFile, index: number): CompiledRule {
  const compile = (patterns: string[] | undefined) =>
    patterns?.map((pattern) => Object.freeze({ pattern, match: compilePattern(pattern) }));
  return Object.freeze({
    index,
    repository: foldCase(rule.repository),
    repositoryDisplay: rule.repository,
    repositoryId: rule.repository_id,
    repositoryOwnerId: rule.repository_owner_id,
    targets: Object.freeze([...rule.targets]),
    environments: rule.environments && Object.freeze(rule.environments.map(foldCase)),
    refs: compile(rule.refs),
    workflows: compile(rule.workflows),
    events: rule.events && Object.freeze([...rule.events]),
    allowsNonBranchRefs: (rule.refs ?? []).some(
      (p) => p.startsWith('refs/tags/') || p.startsWith('refs/pull/'),
    ),
    selfHostedRunners: rule.self_hosted_runners,
  });
}

export function compileConfig(file: ConfigFile, jwksUrl: string): CompiledConfig {
  const projects = new Map<string, CompiledProject>();
  for (const [name, project] of Object.entries(file.projects)) {
    projects.set(
      name,
      Object.freeze({
        name,
        teamId: project.team_id,
        projectId: project.project_id,
        tokenEnv: project.token_env,
        allowProjectSettings: project.allow_project_settings,
        rules: Object.freeze(project.allow.map(compileRule)),
      }),
    );
  }
  return Object.freeze({
    audience: file.audience,
    issuer: file.issuer,
    jwksUrl,
    vercelApiUrl: file.vercel_api_url.replace(/\/+$/, ''),
    credentialTtlSeconds: file.credential_ttl_seconds,
    signingKeyEnv: file.signing_key_env,
    replayStore: file.replay_store,
    limits: Object.freeze({ ...file.limits }),
    projects,
  });
}
