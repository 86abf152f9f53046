/** What the job shows people: outputs (always set), the job summary, and the opt-in sticky PR comment. */
import type { Deployment, UploadStats } from './deployment.js';

export interface Report {
  project: string;
  target: string;
  sha: string;
  deployment?: Deployment;
  /** The stable alias assigned after READY (https://…), when the `alias` input asked for one. */
  aliasUrl?: string;
  stats?: UploadStats;
  phases: Record<string, number>;
  /** Staged (built, domains not assigned), promoted or rolled back to (production now serves it). */
  production?: 'staged' | 'promoted' | 'rolled back';
  /** What `cleanup: true` removed. */
  cleanup?: { deployments: string[]; aliases: string[] };
  error?: string;
}

export interface OutputSink {
  setOutput(name: string, value: string): void;
}

export function deploymentUrl(deployment: Deployment | undefined): string {
  if (!deployment?.url) return '';
  return deployment.url.startsWith('http') ? deployment.url : `https://${deployment.url}`;
}

/**
 * Every value of the ready-state output, as action.yml lists them: Vercel's deployment states, and
 * FAILED when the step failed before a deployment existed.
 */
export const READY_STATE_VALUES = [
  'READY',
  'ERROR',
  'CANCELED',
  'QUEUED',
  'INITIALIZING',
  'BUILDING',
  'FAILED',
] as const;

/** Outputs are set in every outcome, a failed build included, so later steps can link to it. */
export function setOutputs(sink: OutputSink, report: Report): void {
  sink.setOutput('deployment-url', deploymentUrl(report.deployment));
  sink.setOutput('deployment-id', report.deployment?.id ?? '');
  sink.setOutput('inspector-url', report.deployment?.inspectorUrl ?? '');
  sink.setOutput('alias-url', report.aliasUrl ?? '');
  sink.setOutput('ready-state', report.deployment?.readyState ?? (report.error ? 'FAILED' : ''));
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** The summary of a clean-up run: what was removed, and what failed. */
function cleanupMarkdown(report: Report, cleanup: NonNullable<Report['cleanup']>): string {
  const icon = report.error ? '❌' : '✅';
  const list = (items: string[]) => (items.length ? items.map((i) => `\`${i}\``).join(', ') : 'none');
  const rows = [
    ['Project', `\`${report.project}\``],
    ['Removed aliases', list(cleanup.aliases)],
    ['Deleted previews', list(cleanup.deployments)],
  ];
  const table = ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
  const error = report.error ? `\n\n> [!CAUTION]\n> ${report.error.split('\n').join('\n> ')}` : '';
  return `### ${icon} Keyhole preview clean-up of ${report.project}\n\n${table}${error}\n`;
}

export function summaryMarkdown(report: Report): string {
  if (report.cleanup) return cleanupMarkdown(report, report.cleanup);
  const state = report.deployment?.readyState ?? 'FAILED';
  const icon = state === 'READY' ? '✅' : state === 'BUILDING' || state === 'QUEUED' ? '⏳' : '❌';
  const url = deploymentUrl(report.deployment);
  const rows: [string, string][] = [
    ['Project', `\`${report.project}\``],
    ['Target', report.target],
    ['State', `${icon} ${state}`],
    ...(report.aliasUrl ? [['Preview', `[${report.aliasUrl}](${report.aliasUrl})`] as [string, string]] : []),
    ['URL', url ? `[${url}](${url})` : '—'],
    ['Inspector', report.deployment?.inspectorUrl ? `[open](${report.deployment.inspectorUrl})` : '—'],
    ['Commit', report.sha ? `\`${report.sha.slice(0, 12)}\`` : '—'],
  ];
  if (report.production === 'staged' && report.deployment)
    rows.push(['Production', `staged: promote it with \`promote: ${report.deployment.id}\``]);
  if (report.production === 'promoted')
    rows.push(['Production', 'promoted: production serves this deployment']);
  if (report.production === 'rolled back')
    rows.push(['Production', 'rolled back: production serves this deployment again']);
  if (report.stats) {
    rows.push(['Files', `${report.stats.uploaded} uploaded, ${report.stats.reused} already on Vercel`]);
    rows.push([
      'Bytes',
      `${megabytes(report.stats.uploadedBytes)} uploaded of ${megabytes(report.stats.totalBytes)}`,
    ]);
  }
  const phases = Object.entries(report.phases)
    .map(([name, ms]) => `${name} ${seconds(ms)}`)
    .join(' · ');
  if (phases) rows.push(['Duration', phases]);
  const table = ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
  const error = report.error ? `\n\n> [!CAUTION]\n> ${report.error.split('\n').join('\n> ')}` : '';
  return `### ${icon} Keyhole deploy of ${report.project}\n\n${table}${error}\n`;
}

export const commentMarker = (project: string) => `<!-- keyhole:${project} -->`;

export interface CommentApi {
  list(issue: number): Promise<{ id: number; body?: string | null }[]>;
  create(issue: number, body: string): Promise<void>;
  update(id: number, body: string): Promise<void>;
}

/** One comment per project and pull request, edited in place on every push. */
export async function upsertComment(
  api: CommentApi,
  issue: number,
  report: Report,
): Promise<'created' | 'updated'> {
  const marker = commentMarker(report.project);
  const body = `${marker}\n${summaryMarkdown(report)}`;
  const existing = (await api.list(issue)).find((c) => c.body?.includes(marker));
  if (existing) {
    await api.update(existing.id, body);
    return 'updated';
  }
  await api.create(issue, body);
  return 'created';
}
