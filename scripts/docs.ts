/**
 * Generates what the docs derive from code, so they cannot drift (CI checks they equal a fresh run):
 * docs/keyhole-broker.schema.json from the config schema, and the README's inputs/outputs table
 * from action.yml.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { format, resolveConfig } from 'prettier';
import { parse } from 'yaml';
import { z } from 'zod';
import { configSchema } from '../src/broker/policy/schema.js';
import { REPO_ROOT } from '../src/local/runner.js';

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

const readmePath = path.join(REPO_ROOT, 'README.md');
const readme = readFileSync(readmePath, 'utf8');
const begin = '<!-- inputs:begin (generated from action.yml by npm run docs) -->';
const end = '<!-- inputs:end -->';
const start = readme.indexOf(begin);
const stop = readme.indexOf(end);
if (start === -1 || stop === -1) throw new Error(`README.md lacks the ${begin} … ${end} markers`);
const updated = `${readme.slice(0, start + begin.length)}\n${table}\n${readme.slice(stop)}`;
// Formatted as `prettier --check` expects, so the committed README and a fresh run are identical.
writeFileSync(
  readmePath,
  await format(updated, { ...(await resolveConfig(readmePath)), filepath: readmePath }),
);
