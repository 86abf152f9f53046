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

test('every metric the example alert rules and the operations doc use is one the broker serves', async () => {
  const served = new Set(
    (await createMetrics().registry.getMetricsAsJSON()).flatMap((m) =>
      // A histogram is queried through its series.
      String(m.type) === 'histogram'
        ? [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`]
        : [m.name],
    ),
  );
  const rules = readFileSync(path.join(REPO_ROOT, 'examples', 'prometheus-alerts.yaml'), 'utf8');
  const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  const used = (text: string) => [...new Set(text.match(/\bkeyhole_[a-z_]+/g) ?? [])];
  const inRules = used(rules);
  expect(inRules.length).toBeGreaterThan(4);
  expect(inRules.filter((name) => !served.has(name))).toEqual([]);
  // Metric names in the doc's prose and tables (a Vector transform's name is not one).
  expect(used(doc.replace(/\[transforms\.\w+\]/g, '')).filter((name) => !served.has(name))).toEqual([]);
  // Each rule in the example file has an expression and a severity.
  const alerts = [...rules.matchAll(/- alert: (\w+)\n\s+expr: (.+)/g)];
  expect(alerts.length).toBeGreaterThan(4);
  expect(doc).toContain('examples/prometheus-alerts.yaml');
});
