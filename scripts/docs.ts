/**
 * Generates what the docs derive from code, so they cannot drift (CI checks they equal a fresh run):
 * docs/keyhole-broker.schema.json from the config schema, the README's inputs/outputs table from
 * action.yml, and the audit log's field reference in docs/operations.md from src/broker/audit.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { format, resolveConfig } from 'prettier';
import { parse } from 'yaml';
import { z } from 'zod';
import { configSchema } from '../src/broker/policy/schema.js';
import { REPO_ROOT } from '../src/local/runner.js';
import { auditFieldsTable } from './audit-fields.js';

const schema = {
  title: 'Keyhole broker configuration',
  ...z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }),
};
writeFileSync(
  path.join(REPO_ROOT, 'docs', 'keyhole-broker.schema.json'),
  `${JSON.stringify(schema, null, 2)}\n`,
);

interface ActionYaml {
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string }>;
}
const action = parse(readFileSync(path.join(REPO_ROOT, 'action.yml'), 'utf8')) as ActionYaml;
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ').trim();
const table = [
  '| Input | Required | Default | Description |',
  '|---|---|---|---|',
  ...Object.entries(action.inputs).map(
    ([name, input]) =>
      `| \`${name}\` | ${input.required ? 'yes' : 'no'} | ${input.default ? `\`${cell(input.default)}\`` : ''} | ${cell(input.description)} |`,
  ),
  '',
  '| Output | Description |',
  '|---|---|',
  ...Object.entries(action.outputs).map(([name, output]) => `| \`${name}\` | ${cell(output.description)} |`),
].join('\n');

/** Replaces what stands between two markers of a Markdown file, formatted as `prettier --check` expects. */
async function writeBetween(file: string, begin: string, end: string, content: string): Promise<void> {
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf(begin);
  const stop = text.indexOf(end);
  if (start === -1 || stop === -1) throw new Error(`${file} lacks the ${begin} … ${end} markers`);
  const updated = `${text.slice(0, start + begin.length)}\n${content}\n${text.slice(stop)}`;
  // Formatted, so the committed file and a fresh run are identical.
  writeFileSync(file, await format(updated, { ...(await resolveConfig(file)), filepath: file }));
}

await writeBetween(
  path.join(REPO_ROOT, 'README.md'),
  '<!-- inputs:begin (generated from action.yml by npm run docs) -->',
  '<!-- inputs:end -->',
  table,
);
await writeBetween(
  path.join(REPO_ROOT, 'docs', 'operations.md'),
  '<!-- audit-fields:begin (generated from src/broker/audit.ts by npm run docs) -->',
  '<!-- audit-fields:end -->',
  auditFieldsTable(),
);
