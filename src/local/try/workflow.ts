/** Reads a workflow file the way `npm run try` needs it: the Keyhole step's `with:` block, the job's environment and trigger. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { UsageError } from './args.js';

export interface WorkflowJob {
  /** `owner/repo/.github/workflows/file.yml` without the ref: the start of job_workflow_ref. */
  file: string;
  inputs: Record<string, string>;
  /** Inputs left out because they hold `${{ … }}` expressions, which only a runner evaluates. */
  expressions: string[];
  environment?: string;
  event?: string;
  /** How many Keyhole steps the job has (the first one runs). */
  keyholeSteps: number;
}

type Step = { uses?: unknown; with?: Record<string, unknown> };
type Job = { steps?: Step[]; environment?: unknown };

/** A step of this action: `uses: owner/keyhole@…`, `./` in this repository, or one with a broker-url input. */
const isKeyhole = (step: Step) =>
  (typeof step.uses === 'string' && /(^|\/)keyhole(@|\/|$)/i.test(step.uses)) ||
  Boolean(step.with && 'broker-url' in step.with);

export function readWorkflowJob(file: string, jobId: string | undefined): WorkflowJob {
  let doc: { on?: unknown; jobs?: Record<string, Job> };
  try {
    doc = parse(readFileSync(file, 'utf8')) as typeof doc;
  } catch (error) {
    throw new UsageError(
      `--workflow ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  const jobs = doc?.jobs ?? {};
  const ids = Object.keys(jobs);
  const withKeyhole = ids.filter((id) => (jobs[id]?.steps ?? []).some(isKeyhole));
  const id = jobId ?? (withKeyhole.length === 1 ? withKeyhole[0] : undefined);
  if (!id)
    throw new UsageError(
      withKeyhole.length === 0
        ? `--workflow ${file}: no job has a Keyhole step`
        : `--workflow ${file} has several jobs with a Keyhole step: add --job <${withKeyhole.join(' | ')}>`,
    );
  const job = jobs[id];
  if (!job) throw new UsageError(`--job ${id}: ${file} has no such job (jobs: ${ids.join(', ') || 'none'})`);
  const steps = (job.steps ?? []).filter(isKeyhole);
  if (steps.length === 0) throw new UsageError(`--job ${id}: no step of this job uses Keyhole`);
  const inputs: Record<string, string> = {};
  const expressions: string[] = [];
  for (const [key, value] of Object.entries(steps[0]!.with ?? {})) {
    const text = typeof value === 'string' ? value : String(value);
    if (text.includes('${{')) expressions.push(key);
    else inputs[key] = text;
  }
  const environment =
    typeof job.environment === 'string'
      ? job.environment
      : (job.environment as { name?: unknown } | undefined)?.name;
  const on = doc.on;
  const event = typeof on === 'string' ? on : Array.isArray(on) ? on[0] : on ? Object.keys(on)[0] : undefined;
  // job_workflow_ref names the file from the repository root: .github/workflows/x.yml.
  const relative = path.resolve(file).split(path.sep).join('/');
  const at = relative.lastIndexOf('.github/workflows/');
  return {
    file: at >= 0 ? relative.slice(at) : `.github/workflows/${path.basename(file)}`,
    inputs,
    expressions,
    ...(typeof environment === 'string' && !environment.includes('${{') ? { environment } : {}),
    ...(typeof event === 'string' ? { event } : {}),
    keyholeSteps: steps.length,
  };
}
