/**
 * The audit log's field reference in docs/operations.md (generated from src/broker/audit.ts) against
 * the bundled broker's real audit lines: the table lists exactly the declared fields, every field a
 * line carries is documented, every field documented shows up, and the always-present ones always do.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../src/local/runner.js';
import { readAuditFields } from '../../scripts/audit-fields.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { AUDIENCE } from '../../src/local/config.js';
import { UPSTREAM_TOKEN } from '../../src/local/world.js';

const fields = readAuditFields();
let world: BundledWorld;
let lines: Record<string, unknown>[];

beforeAll(async () => {
  world = await startBundledWorld();
  // An action deploy: an allowed exchange, uploads and creates forwarded to the fake.
  const deploy = await world.run({ path: '.' });
  expect(deploy.code).toBe(0);
  const exchange = async (claims: Record<string, string>, target: string) => {
    world.issuer.setJob(claims);
    const token = await world.issuer.mint(AUDIENCE);
    return fetch(`${world.broker.url}/v1/exchange`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, project: 'marketing-site', target }),
    });
  };
  // A production exchange from the protected environment, then a call a deploy never makes.
  const production = await exchange({ environment: 'production' }, 'production');
  const { credential } = (await production.json()) as { credential: string };
  const refused = await fetch(`${world.broker.url}/v10/projects/prj_marketing/env`, {
    headers: { authorization: `Bearer ${credential}` },
  });
  expect(refused.status).toBe(403);
  // A denied exchange: a feature branch asking for production.
  expect((await exchange({ ref: 'refs/heads/feature' }, 'production')).status).toBe(403);
  // The broker batches log lines per event-loop turn: wait for the last one to arrive.
  for (
    let i = 0;
    i < 100 && !world.broker.auditLines().some((l) => l.decision === 'deny' && l.event === 'exchange');
    i++
  )
    await new Promise((resolve) => setTimeout(resolve, 20));
  lines = world.broker.auditLines();
});
afterAll(() => world.close());

test('docs/operations.md lists exactly the fields declared in src/broker/audit.ts, in order', () => {
  const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  const table = doc.slice(doc.indexOf('<!-- audit-fields:begin'), doc.indexOf('<!-- audit-fields:end -->'));
  const rows = [...table.matchAll(/^\| `(\w+)` +\|/gm)].map((m) => m[1]);
  expect(rows).toEqual(fields.map((f) => f.name));
  for (const field of fields) expect(table).toContain(field.description.slice(0, 40));
});

test('every field of every real audit line is documented', () => {
  const documented = new Set(fields.map((f) => f.name));
  const undocumented = new Set(lines.flatMap((line) => Object.keys(line).filter((k) => !documented.has(k))));
  expect([...undocumented]).toEqual([]);
});

test('every documented field occurs in the log, and those marked "on every line" are on every line', () => {
  expect(lines.map((l) => `${l.event}:${l.decision}`)).toEqual(
    expect.arrayContaining(['exchange:allow', 'gateway:allow', 'gateway:deny', 'exchange:deny']),
  );
  const seen = new Set(lines.flatMap((line) => Object.keys(line)));
  // Written only by env pull and promote (their own suites cover them); the compiler holds them to
  // AuditEvent through the gateway's result type.
  // Fields of routes this world does not call; clean-up's and rollback's are asserted on their audit
  // lines in __tests__/broker/cleanup-rollback.test.ts and __tests__/e2e/cleanup-rollback-action.test.ts.
  const routeSpecific = [
    'env_names',
    'promoted_deployment',
    'promoted_sha',
    'deleted_deployment',
    'deleted_alias',
    'rolled_back_from',
    'rolled_back_to',
  ];
  expect(
    fields.map((f) => f.name).filter((name) => !seen.has(name) && !routeSpecific.includes(name)),
  ).toEqual([]);
  for (const field of fields.filter((f) => f.always))
    expect({ field: field.name, missing: lines.filter((l) => l[field.name] === undefined).length }).toEqual({
      field: field.name,
      missing: 0,
    });
});

test('no audit line carries the credential or the upstream token', () => {
  const text = JSON.stringify(lines);
  expect(text).not.toMatch(/khd_/);
  expect(text).not.toContain(UPSTREAM_TOKEN);
});
