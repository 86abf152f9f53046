// The ready-state output as action.yml documents it: every value the action sets, and only those.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { READY_STATE_VALUES, setOutputs, type Report } from '../../src/action/report.js';

const action = parse(readFileSync(new URL('../../action.yml', import.meta.url), 'utf8')) as {
  outputs: Record<string, { description: string }>;
};
const description = action.outputs['ready-state']!.description;

test('action.yml names every ready-state value, and no other upper-case word', () => {
  for (const value of READY_STATE_VALUES) expect(description).toMatch(new RegExp(`\\b${value}\\b`));
  expect(description.match(/\b[A-Z]{4,}\b/g)!.sort()).toEqual([...READY_STATE_VALUES].sort());
});

test.each<[string, Partial<Report>, string]>([
  ['a step that failed before any deployment', { error: 'Input "project": is required' }, 'FAILED'],
  ['a build that failed', { deployment: { id: 'dpl_1', url: 'x', readyState: 'ERROR' } }, 'ERROR'],
  ['wait: false', { deployment: { id: 'dpl_1', url: 'x', readyState: 'QUEUED' } }, 'QUEUED'],
])('%s sets a documented ready-state', (_, partial, expected) => {
  const outputs: Record<string, string> = {};
  setOutputs(
    { setOutput: (name, value) => (outputs[name] = value) },
    { project: 'p', target: 'preview', sha: '', phases: {}, ...partial },
  );
  expect(outputs['ready-state']).toBe(expected);
  expect(READY_STATE_VALUES).toContain(outputs['ready-state']);
});
