/** The admin's view of a decision: which rule allows the request, or under each rule why it does not. */
import type { CompiledProject } from './compiled.js';
import { ruleName, type Decision } from './evaluate.js';

function describeRule(project: CompiledProject, index: number): string {
  const rule = project.rules[index]!;
  return `${ruleName(project.name, index)} (${rule.repositoryDisplay} → ${rule.targets.join(', ')})`;
}

/**
 * One heading, then every rule with its own reasons indented under it, then what the caller is
 * told. A rule for another repository or another target says so in one line: its other
 * conditions are not the caller's problem.
 */
export function explainDecision(
  decision: Decision,
  project: CompiledProject | undefined,
  projectName: string,
  target: string,
): string {
  const lines: string[] = [];
  if (decision.allowed) {
    lines.push(
      `ALLOWED: project ${projectName}, target ${target}, by ${ruleName(projectName, decision.grant.ruleIndex)}`,
    );
  } else if (!project) {
    lines.push(
      `DENIED: project ${projectName} is not in the config (callers are not told which projects exist)`,
    );
  } else {
    lines.push(`DENIED: no rule of project ${projectName} allows target ${target}`);
  }
  for (const verdict of decision.rules) {
    const heading = `  ${describeRule(project!, verdict.index)}`;
    if (verdict.identity.length > 0) {
      lines.push(`${heading}: not for this repository`, ...verdict.identity.map((r) => `      - ${r}`));
    } else if (verdict.target) {
      lines.push(`${heading}: not for target ${target}`);
    } else if (verdict.failures.length === 0) {
      lines.push(`${heading}: matches`);
    } else {
      lines.push(`${heading}: does not match`, ...verdict.failures.map((r) => `      - ${r}`));
    }
  }
  if (!decision.allowed) lines.push(`caller sees (403 policy_denied): ${decision.message}`);
  return lines.join('\n');
}
