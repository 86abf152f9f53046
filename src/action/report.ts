/** What the job shows people: outputs (always set), the job summary, and the opt-in sticky PR comment. */
import { checkPassed, type CheckReport } from './check.js';
import { formatBytes, type Deployment, type UploadStats } from './deployment.js';
import { markdownLink, quoteBlock, quoteInline } from './relay.js';

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
  /** What check-path answered on the deployment and the alias (check.ts). */
  check?: CheckReport;
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
  // The deployment's own answer (the first checked URL); the alias's is in the summary and log.
  const first = report.check?.results[0];
  sink.setOutput('check-status', first ? String(first.status ?? 0) : '');
}

/** The summary's Check row: each URL's status, with the reason when it did not pass. */
function checkRow(check: CheckReport): [string, string] {
  const cell = check.results
    .map((r) => {
      const outcome = `${checkPassed(r) ? '✅' : '❌'} ${r.status ?? 'no answer'}${r.problem ? ` (${r.problem})` : ''}`;
      return `${outcome} ${quoteInline(r.url)}`;
    })
    .join('<br>');
  return ['Check', `${quoteInline(check.path)}: ${cell}`];
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
/** A label the workflow wrote (project, target): plain when it is a plain name, else inert code. */
const label = (text: string) => (/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(text) ? text : quoteInline(text));

/** The step's failure, quoted: it carries Vercel's, the broker's or an artifact's text (relay.ts). */
const failure = (report: Report) =>
  report.error ? `\n\n> [!CAUTION]\n> The step failed:\n\n${quoteBlock(report.error)}` : '';

/** The summary of a clean-up run: what was removed, and what failed. */
function cleanupMarkdown(report: Report, cleanup: NonNullable<Report['cleanup']>): string {
  const icon = report.error ? '❌' : '✅';
  // Names the broker and Vercel answered: inline code through relay.ts, as in the deploy summary.
  const list = (items: string[]) => (items.length ? items.map((i) => quoteInline(i)).join(', ') : 'none');
  const rows = [
    ['Project', quoteInline(report.project)],
    ['Removed aliases', list(cleanup.aliases)],
    ['Deleted previews', list(cleanup.deployments)],
  ];
  const table = ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
  return `### ${icon} Keyhole preview clean-up of ${label(report.project)}\n\n${table}${failure(report)}\n`;
}

/**
 * The job summary (and the comment's body). Everything Vercel, the broker or an artifact wrote —
 * URLs, states, ids, the error — goes through relay.ts: links only when plain, the rest as code.
 */
export function summaryMarkdown(report: Report): string {
  if (report.cleanup) return cleanupMarkdown(report, report.cleanup);
  const state = report.deployment?.readyState ?? 'FAILED';
  const icon = state === 'READY' ? '✅' : state === 'BUILDING' || state === 'QUEUED' ? '⏳' : '❌';
  const url = deploymentUrl(report.deployment);
  const rows: [string, string][] = [
    ['Project', quoteInline(report.project)],
    ['Target', label(report.target)],
    [
      'State',
      `${icon} ${(READY_STATE_VALUES as readonly string[]).includes(state) ? state : quoteInline(state)}`,
    ],
    ...(report.aliasUrl ? [['Preview', markdownLink(report.aliasUrl)] as [string, string]] : []),
    ['URL', url ? markdownLink(url) : '—'],
    [
      'Inspector',
      report.deployment?.inspectorUrl ? markdownLink(report.deployment.inspectorUrl, 'open') : '—',
    ],
    ['Commit', report.sha ? quoteInline(report.sha.slice(0, 12)) : '—'],
  ];
  if (report.production === 'staged' && report.deployment)
    rows.push(['Production', `staged: promote it with ${quoteInline(`promote: ${report.deployment.id}`)}`]);
  if (report.production === 'promoted')
    rows.push(['Production', 'promoted: production serves this deployment']);
  if (report.production === 'rolled back')
    rows.push(['Production', 'rolled back: production serves this deployment again']);
  if (report.check) rows.push(checkRow(report.check));
  if (report.stats) {
    rows.push(['Files', `${report.stats.uploaded} uploaded, ${report.stats.reused} already on Vercel`]);
    rows.push([
      'Bytes',
      `${formatBytes(report.stats.uploadedBytes)} uploaded of ${formatBytes(report.stats.totalBytes)}`,
    ]);
  }
  const phases = Object.entries(report.phases)
    .map(([name, ms]) => `${name} ${seconds(ms)}`)
    .join(' · ');
  if (phases) rows.push(['Duration', phases]);
  const table = ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
  return `### ${icon} Keyhole deploy of ${label(report.project)}\n\n${table}${failure(report)}\n`;
}

/** The comment's first line; relayed text can never contain it (relay.ts breaks every `<`). */
export const commentMarker = (project: string) => `<!-- keyhole:${project} -->`;

/** GitHub refuses a comment longer than this (422). */
export const MAX_COMMENT_CHARS = 65_536;

export interface CommentAuthor {
  login?: string;
  type?: string;
}

export interface CommentApi {
  list(issue: number): Promise<{ id: number; body?: string | null; user?: CommentAuthor | null }[]>;
  create(issue: number, body: string): Promise<void>;
  update(id: number, body: string): Promise<void>;
  /** The token's own login when GitHub says it (`GET /user`); undefined for a job or App token. */
  self?(): Promise<string | undefined>;
}

/**
 * The bot's own comment: it starts with the marker, and its author is the token's login, or — for
 * a job or App token, which cannot ask who it is — a bot. A pull request's author can paste the
 * marker into a comment of their own; that comment is not ours and is never edited.
 */
async function findOwnComment(api: CommentApi, issue: number, marker: string) {
  const [comments, login] = await Promise.all([api.list(issue), api.self?.().catch(() => undefined)]);
  return comments.find(
    (c) => c.body?.startsWith(`${marker}\n`) && (login ? c.user?.login === login : c.user?.type === 'Bot'),
  );
}

/** One comment per project and pull request, edited in place on every push. */
export async function upsertComment(
  api: CommentApi,
  issue: number,
  report: Report,
): Promise<'created' | 'updated'> {
  const marker = commentMarker(report.project);
  let body = `${marker}\n${summaryMarkdown(report)}`;
  // Bounded by construction (relay.ts caps quoted text); this only guards GitHub's hard limit.
  if (body.length > MAX_COMMENT_CHARS) body = `${body.slice(0, MAX_COMMENT_CHARS - 100)}\n\n… (truncated)\n`;
  const existing = await findOwnComment(api, issue, marker);
  if (existing) {
    await api.update(existing.id, body);
    return 'updated';
  }
  await api.create(issue, body);
  return 'created';
}
