/** docs/operations.md's metrics table against the broker's own registry: every keyhole_* series, its type, nothing else. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createMetrics } from '../../src/broker/host/node/metrics.js';
import { REPO_ROOT } from '../../src/local/runner.js';

test('the metrics table lists exactly the keyhole_* metrics the broker registers, with their types', async () => {
  const registered = (await createMetrics().registry.getMetricsAsJSON())
    .filter((m) => m.name.startsWith('keyhole_'))
    .map((m) => `${m.name} ${m.type}`)
    .sort();
  const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `(keyhole_\w+)` +\| (\w+) +\|/gm)]
    .map((m) => `${m[1]} ${m[2]}`)
    .sort();
  expect(registered.length).toBeGreaterThan(5);
  expect(documented).toEqual(registered);
});
