/** Compiles a project's rules once into frozen matchers: globs become anchored matchers, names are folded. */
import picomatch from 'picomatch';
import type { CompiledRule, Matcher } from './compiled.js';
import type { RuleFile } from './schema.js';
import { foldCase } from '../fold-case.js';

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

export function compileRules(rules: readonly RuleFile[]): readonly CompiledRule[] {
  return Object.freeze(rules.map(compileRule));
}
