/**
 * How the demo writes to a terminal: colour only on a TTY without NO_COLOR (no-color.org), text
 * wrapped at word and phrase boundaries rather than cut, audit decisions named as people read a
 * policy ("rule 2 of marketing-site"), and the job summary the action wrote, as text.
 */

export interface Style {
  bold(s: string): string;
  green(s: string): string;
  red(s: string): string;
  dim(s: string): string;
}

/** ANSI colour when `stream` is a terminal and NO_COLOR is unset or empty; plain text otherwise. */
export function createStyle(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Style {
  const on = Boolean(stream.isTTY) && !env.NO_COLOR;
  const sgr = (code: number) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: sgr(1), green: sgr(32), red: sgr(31), dim: sgr(2) };
}

/**
 * Lays `text` out after `indent`, one phrase (the broker joins reasons with "; ") per line, each
 * wrapped at spaces to `width` columns. Nothing is dropped or cut: a word longer than a line
 * overflows it. Without a width (not a terminal), phrases are only put on their own lines.
 */
export function wrap(text: string, indent: string, width?: number): string {
  const lines: string[] = [];
  for (const phrase of text.split(/;\s+/)) {
    let line = '';
    for (const word of phrase.split(' ')) {
      const overflows = width && indent.length + line.length + 1 + word.length > width;
      // A word too long for any line stays beside its neighbour rather than alone on a line.
      const fitsAlone = width && indent.length + 2 + word.length <= width;
      if (line && overflows && fitsAlone) {
        lines.push(line);
        line = `  ${word}`; // a continuation of the same phrase
      } else line = line ? `${line} ${word}` : word;
    }
    lines.push(line);
  }
  return lines.map((line) => `${indent}${line}`).join('\n');
}

/** The broker audits an allow as `allow[i]`, the rule's index in its project's `allow` list. */
export function describeReason(line: Record<string, unknown>): string {
  const reason = String(line.reason ?? line.status ?? '');
  const rule = /^allow\[(\d+)\]$/.exec(reason);
  return rule ? `allowed by rule ${Number(rule[1]) + 1} of ${String(line.project)}` : reason;
}

/** One audit event as a row: event, decision, project, then the whole reason (wrapped, never cut). */
export function formatAuditLine(line: Record<string, unknown>, width?: number): string {
  const head = `   ${String(line.event).padEnd(9)}${String(line.decision).padEnd(6)}${String(line.project ?? '').padEnd(16)}`;
  const reason = describeReason(line);
  // A gateway refusal's reason starts with the route it refused; otherwise name the route first.
  const route = line.route && !reason.includes(String(line.route)) ? `${String(line.route)}: ` : '';
  return `${head}${wrap(`${route}${reason}`, ' '.repeat(head.length), width).trimStart()}`;
}

/** The action's job summary (GitHub-flavoured markdown) as aligned text: heading, table rows, caution. */
export function summaryAsText(markdown: string, indent: string): string {
  const out: string[] = [];
  let fence: string | undefined;
  for (const raw of markdown.split('\n')) {
    // A fenced block (the quoted error, relay.ts) is shown as it is, indented like the caution.
    const opening = /^(`{3,})/.exec(raw)?.[1];
    if (fence) {
      if (opening && opening.length >= fence.length && raw.trim() === opening) fence = undefined;
      else out.push(`  ${raw}`);
      continue;
    }
    if (opening) {
      fence = opening;
      continue;
    }
    const line = raw
      .replace(/\[([^\]]*)\]\(([^)]*)\)/g, (_, label: string, url: string) =>
        label === url || label === 'open' ? url : `${label} (${url})`,
      )
      .replace(/`([^`]*)`/g, '$1');
    if (/^#+ /.test(line)) out.push(line.replace(/^#+ /, ''));
    else if (/^\|\s*\|\s*\|$/.test(line) || /^\|[-| ]+\|$/.test(line)) continue;
    else if (line.startsWith('|')) {
      const [name, value] = line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim());
      out.push(`  ${name!.padEnd(10)} ${value}`);
    } else if (line.startsWith('> [!')) continue;
    else if (line.startsWith('> ')) out.push(`  ${line.slice(2)}`);
    else if (line.trim()) out.push(line);
  }
  return out.map((line) => `${indent}${line}`).join('\n');
}
