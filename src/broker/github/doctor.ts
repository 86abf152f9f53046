/**
 * `keyhole-broker doctor`: the policy trusts GitHub-side controls it cannot see in its own file.
 * Through the github_app, for every rule that allows production, this checks that they are still
 * in place: the environment exists and is protected, its branch policy admits only the rule's refs,
 * the pinned workflow file exists at the pinned ref, and the repository and owner ids match.
 */
import { foldCase } from '../fold-case.js';
import type { CompiledConfig, CompiledRule } from '../policy/compiled.js';
import { githubAppFromConfig, type GitHubApp } from './app.js';

export type FindingStatus = 'ok' | 'warn' | 'fail';

export interface Finding {
  status: FindingStatus;
  /** `marketing-site allow[0]` */
  rule: string;
  check: 'repository' | 'environment' | 'branch policy' | 'protection' | 'workflow';
  subject: string;
  detail: string;
  /** What to change, for warn and fail. */
  fix?: string;
}

interface Environment {
  protection_rules?: { type?: string; wait_timer?: number; reviewers?: unknown[] }[];
  deployment_branch_policy?: { protected_branches?: boolean; custom_branch_policies?: boolean } | null;
}

export async function runDoctor(config: CompiledConfig, github: GitHubApp): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const project of config.projects.values()) {
    for (const rule of project.rules) {
      if (!rule.targets.includes('production')) continue;
      const at = `${project.name} allow[${rule.index}]`;
      const add = (finding: Omit<Finding, 'rule'>) => findings.push({ rule: at, ...finding });
      try {
        await checkRepository(github, rule, add);
        for (const environment of rule.environments ?? [])
          await checkEnvironment(github, rule, environment, add, stagesOnly(project, environment));
        for (const workflow of rule.workflows ?? []) await checkWorkflow(github, workflow.pattern, add);
      } catch (error) {
        add({
          status: 'fail',
          check: 'repository',
          subject: rule.repositoryDisplay,
          detail: `GitHub could not be asked: ${error instanceof Error ? error.message : String(error)}`,
          fix: `install the GitHub App ${config.githubApp?.app_id ?? ''} on ${rule.repositoryDisplay} with read access to Actions, Contents and Metadata, and check github_app.api_url`,
        });
      }
    }
  }
  return findings;
}

type Add = (finding: Omit<Finding, 'rule'>) => void;

async function checkRepository(github: GitHubApp, rule: CompiledRule, add: Add) {
  const repo = rule.repositoryDisplay;
  const { status, body } = await github.getRepo(repo, '');
  if (status === 404) {
    add({
      status: 'fail',
      check: 'repository',
      subject: repo,
      detail: 'the repository does not exist or the app cannot see it',
      fix: `install the GitHub App on ${repo}, or fix the rule's repository`,
    });
    return;
  }
  const { id, owner } = body as { id?: number; owner?: { id?: number } };
  const actual = { repository_id: String(id), repository_owner_id: String(owner?.id) };
  const pinned = { repository_id: rule.repositoryId, repository_owner_id: rule.repositoryOwnerId };
  for (const key of ['repository_id', 'repository_owner_id'] as const) {
    if (pinned[key] === undefined) {
      add({
        status: 'warn',
        check: 'repository',
        subject: repo,
        detail: `${key} is not pinned; GitHub says ${actual[key]}`,
        fix: `add ${key}: "${actual[key]}" to the rule (names can be re-registered after a rename or deletion)`,
      });
    } else if (pinned[key] !== actual[key]) {
      add({
        status: 'fail',
        check: 'repository',
        subject: repo,
        detail: `${key} is ${actual[key]} on GitHub, the rule pins ${pinned[key]}: the name now belongs to another ${key === 'repository_id' ? 'repository' : 'owner'}`,
        fix: `find out why before changing anything: if ${repo} was deleted and re-created or transferred, review it, then pin ${key}: "${actual[key]}"`,
      });
    }
  }
  if (
    pinned.repository_id === actual.repository_id &&
    pinned.repository_owner_id === actual.repository_owner_id
  )
    add({ status: 'ok', check: 'repository', subject: repo, detail: 'repository and owner ids match' });
}

/**
 * With promote_environments, a production credential from any other environment only stages (the
 * gateway refuses a create that would take the domains, and every promotion): such an environment
 * builds without serving production, so it needs no reviewers.
 */
const stagesOnly = (project: { promoteEnvironments?: readonly string[] }, environment: string) =>
  project.promoteEnvironments !== undefined && !project.promoteEnvironments.includes(foldCase(environment));

async function checkEnvironment(
  github: GitHubApp,
  rule: CompiledRule,
  name: string,
  add: Add,
  staging = false,
) {
  const repo = rule.repositoryDisplay;
  const subject = `${repo} environment ${name}`;
  const path = `/environments/${encodeURIComponent(name)}`;
  const { status, body } = await github.getRepo(repo, path);
  if (status === 404) {
    add({
      status: 'fail',
      check: 'environment',
      subject,
      detail:
        'the environment does not exist: GitHub would create it unprotected on the first job that names it',
      fix: `create environment "${name}" in ${repo} (Settings → Environments) with required reviewers and "Selected branches and tags"`,
    });
    return;
  }
  const environment = body as Environment;
  const rules = environment.protection_rules ?? [];
  const reviewers = rules.some((r) => r.type === 'required_reviewers' && (r.reviewers?.length ?? 0) > 0);
  const waitTimer = rules.some((r) => r.type === 'wait_timer' && (r.wait_timer ?? 0) > 0);
  add(
    staging && !reviewers && !waitTimer
      ? {
          status: 'ok',
          check: 'protection',
          subject,
          detail:
            'stages only (not in promote_environments): its jobs build production deployments without serving them, so no reviewers are needed',
        }
      : reviewers || waitTimer
        ? {
            status: 'ok',
            check: 'protection',
            subject,
            detail: [reviewers && 'required reviewers', waitTimer && 'a wait timer']
              .filter(Boolean)
              .join(' and '),
          }
        : {
            status: 'fail',
            check: 'protection',
            subject,
            detail:
              'neither required reviewers nor a wait timer: any job that reaches it deploys to production',
            fix: `add required reviewers (or a wait timer) to environment "${name}" in ${repo}`,
          },
  );
  const policy = environment.deployment_branch_policy;
  const refs = rule.refs?.map((r) => r.pattern).join(', ') ?? 'any ref';
  if (!policy) {
    add({
      status: 'fail',
      check: 'branch policy',
      subject,
      detail: 'every branch may deploy to this environment',
      fix: `set Deployment branches and tags to "Selected branches and tags" with exactly: ${refs}`,
    });
    return;
  }
  if (policy.protected_branches) {
    add({
      status: 'fail',
      check: 'branch policy',
      subject,
      detail: "every protected branch may deploy, not only the rule's refs",
      fix: `choose "Selected branches and tags" and list exactly: ${refs}`,
    });
    return;
  }
  // GitHub pages this list (30 by default): a verdict on a partial list could miss a foreign branch.
  const listed = await github.getRepo(repo, `${path}/deployment-branch-policies?per_page=100`);
  const page = listed.body as
    { total_count?: number; branch_policies?: { name: string; type?: string }[] } | undefined;
  const policies = page?.branch_policies ?? [];
  if (listed.status !== 200 || (page?.total_count ?? policies.length) > policies.length) {
    add({
      status: 'warn',
      check: 'branch policy',
      subject,
      detail:
        listed.status !== 200
          ? `GitHub answered ${listed.status} for the environment's branch policies: they could not be read`
          : `the environment lists ${page!.total_count} branch policies; the doctor read the first ${policies.length}`,
      fix: `check in Settings → Environments that only ${refs} may deploy`,
    });
    return;
  }
  const foreign = policies.filter((p) => !admittedByRule(rule, p));
  add(
    foreign.length === 0
      ? {
          status: 'ok',
          check: 'branch policy',
          subject,
          detail: policies.length
            ? `admits only ${policies.map(describePolicy).join(', ')}`
            : 'admits no branch or tag',
        }
      : {
          status: 'fail',
          check: 'branch policy',
          subject,
          detail: `admits ${foreign.map(describePolicy).join(', ')}, which the rule does not allow (${refs})`,
          fix: `remove ${foreign.map((p) => `"${p.name}"`).join(', ')} from the environment's deployment branches and tags, or widen the rule's refs if that is intended`,
        },
  );
}

const describePolicy = (p: { name: string; type?: string }) =>
  `${p.type === 'tag' ? 'tag' : 'branch'} ${p.name}`;

/**
 * A branch policy admits only the rule's refs when, written as a full ref, it is one of the rule's
 * patterns, or a plain name (no wildcard) the rule's patterns match. GitHub's `*` stops at `/` like
 * ours, so equal patterns admit equal sets; different wildcard patterns are reported for review.
 */
function admittedByRule(rule: CompiledRule, policy: { name: string; type?: string }): boolean {
  if (!rule.refs) return true;
  const ref = `${policy.type === 'tag' ? 'refs/tags' : 'refs/heads'}/${policy.name}`;
  if (rule.refs.some((r) => r.pattern === ref)) return true;
  return !/[*?[]/.test(policy.name) && rule.refs.some((r) => r.match(ref));
}

async function checkWorkflow(github: GitHubApp, pattern: string, add: Add) {
  const match = /^([^/@*]+\/[^/@*]+)\/([^@]+)@(.+)$/.exec(pattern);
  if (!match || /\*/.test(pattern)) {
    add({
      status: 'warn',
      check: 'workflow',
      subject: pattern,
      detail: 'not pinned to one workflow file at one ref, so it cannot be checked',
      fix: 'pin the production workflow as owner/repo/.github/workflows/file.yml@refs/heads/main',
    });
    return;
  }
  const [, repo, file, ref] = match as unknown as [string, string, string, string];
  const { status } = await github.getRepo(
    repo,
    `/contents/${file.split('/').map(encodeURIComponent).join('/')}?ref=${encodeURIComponent(ref)}`,
  );
  add(
    status === 200
      ? {
          status: 'ok',
          check: 'workflow',
          subject: pattern,
          detail: 'the pinned workflow file exists at the pinned ref',
        }
      : {
          status: 'fail',
          check: 'workflow',
          subject: pattern,
          detail: `${file} does not exist at ${ref} in ${repo}: the file was moved, renamed or the ref deleted`,
          fix: `update the rule's workflows to the file and ref that deploy now, after reviewing that workflow`,
        },
  );
}

/** The findings as an aligned table, failures first, each with what to change. */
export function formatFindings(findings: readonly Finding[]): string {
  const order: Record<FindingStatus, number> = { fail: 0, warn: 1, ok: 2 };
  const sorted = [...findings].sort((a, b) => order[a.status] - order[b.status]);
  const rows = [
    ['STATUS', 'RULE', 'CHECK', 'SUBJECT', 'FINDING'],
    ...sorted.map((f) => [f.status.toUpperCase(), f.rule, f.check, f.subject, f.detail]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines: string[] = [];
  rows.forEach((row, i) => {
    lines.push(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '));
    const fix = i > 0 ? sorted[i - 1]!.fix : undefined;
    if (fix && sorted[i - 1]!.status !== 'ok') lines.push(`${' '.repeat(widths[0]! + 2)}→ ${fix}`);
  });
  const failed = findings.filter((f) => f.status === 'fail').length;
  const warned = findings.filter((f) => f.status === 'warn').length;
  lines.push('', `${failed} failing, ${warned} warning, ${findings.length - failed - warned} ok`);
  return lines.join('\n');
}

/** The CLI command: exit 0 when nothing fails, 1 otherwise (and for a config without github_app). */
export async function runDoctorCommand(
  config: CompiledConfig,
  io: {
    /** A secret by name, read as `serve` reads it (env file, environment, `<NAME>_FILE`). */
    readEnv: (name: string) => string | undefined;
    stdout: (line: string) => void;
    stderr: (line: string) => void;
  },
  options: { json: boolean; fetch?: typeof fetch },
): Promise<number> {
  const github = githubAppFromConfig(config, io.readEnv, options.fetch ?? fetch);
  if (!github) {
    io.stderr(
      'keyhole-broker doctor: the config has no github_app; add one (app_id, private_key_env, api_url) so the broker can read the repositories',
    );
    return 1;
  }
  const findings = await runDoctor(config, github);
  const ok = findings.every((f) => f.status !== 'fail');
  if (options.json) io.stdout(JSON.stringify({ ok, findings }, null, 2));
  else io.stdout(findings.length ? formatFindings(findings) : 'No rule allows production: nothing to check.');
  return ok ? 0 : 1;
}
