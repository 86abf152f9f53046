/** The policy decision: a pure function from (policy, verified claims, project, target) to a grant or reasons. */
import type { PolicyClaims } from '../oidc/claims.js';
import type { CompiledConfig, CompiledProject, CompiledRule } from './compiled.js';
import { foldCase } from '../fold-case.js';
import { RISKY_EVENTS } from './compile.js';

export interface Grant {
  project: CompiledProject;
  target: string;
  ruleIndex: number;
}

export interface RuleVerdict {
  index: number;
  /** Why the rule does not name this repository (name and ids); empty when it does. */
  identity: string[];
  /** Set when the rule does not allow the requested target at all. */
  target?: string;
  /** The caller's other claims this rule refuses: its to fix, when identity and target match. */
  failures: string[];
}

export type Decision =
  | { allowed: true; grant: Grant; rules: RuleVerdict[] }
  | { allowed: false; message: string; rules: RuleVerdict[]; projectKnown: boolean };

/** How people name a rule: 1-based, with its project ("rule 2 of marketing-site"). */
export function ruleName(projectName: string, index: number): string {
  return `rule ${index + 1} of ${projectName}`;
}

export const ruleMatches = (rule: RuleVerdict) =>
  rule.identity.length === 0 && rule.target === undefined && rule.failures.length === 0;

function checkRule(rule: CompiledRule, claims: PolicyClaims, target: string): RuleVerdict {
  const identity: string[] = [];
  const failures: string[] = [];
  let targetFailure: string | undefined;
  if (foldCase(claims.repository) !== rule.repository) {
    identity.push(`repository ${claims.repository} is not ${rule.repositoryDisplay}`);
  }
  if (rule.repositoryId !== undefined && claims.repository_id !== rule.repositoryId) {
    identity.push(`repository_id ${claims.repository_id} is not ${rule.repositoryId}`);
  }
  if (rule.repositoryOwnerId !== undefined && claims.repository_owner_id !== rule.repositoryOwnerId) {
    identity.push(`repository_owner_id ${claims.repository_owner_id} is not ${rule.repositoryOwnerId}`);
  }
  if (!rule.targets.includes(target)) {
    targetFailure = `target ${target} is not allowed (this rule allows ${rule.targets.join(', ')})`;
  }
  if (rule.environments) {
    const environment = claims.environment;
    if (!environment || !rule.environments.includes(foldCase(environment))) {
      failures.push(
        environment
          ? `environment ${environment} may not deploy to ${target}`
          : `the job has no GitHub environment; deploying to ${target} needs "environment: ${rule.environments[0]}" on the job`,
      );
    }
  }
  if (!rule.allowsNonBranchRefs && !(claims.ref.startsWith('refs/heads/') && claims.ref_type === 'branch')) {
    failures.push(`ref ${claims.ref || '(empty)'} is not a branch; only branches may deploy with this rule`);
  } else if (rule.refs && !rule.refs.some((r) => r.match(claims.ref))) {
    failures.push(`ref ${claims.ref} may not deploy to ${target}`);
  }
  if (rule.workflows && !rule.workflows.some((w) => w.match(claims.job_workflow_ref))) {
    failures.push(`workflow ${claims.job_workflow_ref} may not deploy to ${target}`);
  }
  if (
    rule.events
      ? !rule.events.includes(claims.event_name)
      : (RISKY_EVENTS as readonly string[]).includes(claims.event_name)
  ) {
    failures.push(
      rule.events
        ? `event ${claims.event_name} may not deploy (allowed: ${rule.events.join(', ')})`
        : `event ${claims.event_name} may not deploy unless a rule lists it under events`,
    );
  }
  // A risky event deploys only through a rule that names the exact workflow (no wildcard): the
  // reviewed file on the default branch decides what is deployed, never the pull request.
  if (
    (RISKY_EVENTS as readonly string[]).includes(claims.event_name) &&
    rule.events?.includes(claims.event_name) &&
    (!rule.workflows || rule.workflows.some((w) => w.pattern.includes('*')) || target !== 'preview')
  ) {
    failures.push(
      `event ${claims.event_name} may deploy only to preview, through a rule that pins the exact workflow`,
    );
  }
  if (!rule.selfHostedRunners && claims.runner_environment !== 'github-hosted') {
    failures.push(
      `runner ${claims.runner_environment} may not deploy; only GitHub-hosted runners are allowed`,
    );
  }
  return {
    index: rule.index,
    identity,
    ...(targetFailure ? { target: targetFailure } : {}),
    failures,
  };
}

/**
 * Deny by default. An unknown project and one whose rules never name this repository get the same
 * message, so a caller learns nothing about which projects exist; once a rule names the caller's
 * repository, the failures are about the caller's own claims and are returned so it can fix them.
 */
export function evaluatePolicy(
  config: CompiledConfig,
  claims: PolicyClaims,
  projectName: string,
  target: string,
): Decision {
  const project = config.projects.get(projectName);
  const notAvailable = `repository ${claims.repository} may not deploy project "${projectName}" (no rule of the broker's policy allows it)`;
  if (!project) return { allowed: false, message: notAvailable, rules: [], projectKnown: false };
  const rules = project.rules.map((rule) => checkRule(rule, claims, target));
  const match = rules.find(ruleMatches);
  if (match) return { allowed: true, grant: { project, target, ruleIndex: match.index }, rules };
  const own = rules.filter((r) => r.identity.length === 0);
  if (own.length === 0) return { allowed: false, message: notAvailable, rules, projectKnown: true };
  // Only rules for the requested target explain a denial: a preview rule's event list is not
  // the reason a production deploy failed, and fixing it would not help the caller.
  const forTarget = own.filter((r) => r.target === undefined);
  if (forTarget.length === 0) {
    const targets = new Set(own.flatMap((r) => project.rules[r.index]!.targets));
    return {
      allowed: false,
      message: `target ${target} is not allowed for ${claims.repository} (its rules allow ${[...targets].join(', ')})`,
      rules,
      projectKnown: true,
    };
  }
  const reasons = [...new Set(forTarget.flatMap((r) => r.failures))];
  return { allowed: false, message: reasons.join('; '), rules, projectKnown: true };
}

/**
 * True when some rule names this repository (its id, its owner's id, or, for a rule without ids,
 * its name): only then can a token ever be allowed, so only then is its `jti` worth remembering.
 * Anyone on the internet can mint genuine tokens for the broker's audience; tokens no rule could
 * allow must not take replay-store entries.
 */
export function couldEverAllow(config: CompiledConfig, claims: PolicyClaims): boolean {
  for (const project of config.projects.values()) {
    for (const rule of project.rules) {
      if (rule.repositoryId !== undefined && rule.repositoryId === claims.repository_id) return true;
      if (rule.repositoryOwnerId !== undefined && rule.repositoryOwnerId === claims.repository_owner_id)
        return true;
      if (
        rule.repositoryId === undefined &&
        rule.repositoryOwnerId === undefined &&
        rule.repository === foldCase(claims.repository)
      )
        return true;
    }
  }
  return false;
}
