/**
 * The compiled configuration: the frozen value every part of the broker reads. It lives outside
 * policy/ so the gateway, the exchange and the app can hold the config without depending on the
 * policy module; policy/compile.ts fills in each project's rules.
 */
import type { Limits } from './policy/schema.js';

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
  /** `preview_aliases`, compiled: an alias a preview credential may assign must match one. */
  previewAliases: readonly { pattern: string; match: Matcher }[];
  /** Environment variable names the gateway lets `vercel pull` read (exact, case-sensitive). */
  envPull: readonly string[];
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
