/**
 * The rules that hold the layout (docs/architecture.md, "Rooms"), each shown failing on a planted
 * violation: the lint configuration is linted against code it must refuse and code it must accept,
 * by folder, so a rule that stops matching fails here before a violation can land.
 */
import path from 'node:path';
import { ESLint } from 'eslint';
import { REPO_ROOT } from '../src/local/runner.js';

const eslint = new ESLint({ cwd: REPO_ROOT });

const IMPORTS = '@typescript-eslint/no-restricted-imports';
const SHAPE_RULES = new Set([IMPORTS, 'max-lines', 'max-lines-per-function']);

/** The layout rules ESLint reports for `code` as if it were the file at `file` (a parse error too). */
async function violations(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(REPO_ROOT, file) });
  return result!.messages
    .filter((m) => m.ruleId === null || SHAPE_RULES.has(m.ruleId))
    .map((m) => m.ruleId ?? m.message);
}

// One planted import per arrow that must never be.
const forbidden: [string, string, string][] = [
  [
    'the gateway imports policy/',
    'src/broker/gateway/planted.ts',
    "import type { CompiledConfig } from '../policy/compiled.js';",
  ],
  [
    'a gateway handler imports policy/',
    'src/broker/gateway/handlers/planted.ts',
    "import { evaluatePolicy } from '../../policy/evaluate.js';",
  ],
  [
    'the gateway imports a Node module',
    'src/broker/gateway/planted.ts',
    "import { createHash } from 'node:crypto';",
  ],
  [
    'the exchange imports a Node module',
    'src/broker/exchange/planted.ts',
    "import { readFileSync } from 'node:fs';",
  ],
  [
    'the credential room imports a Node module',
    'src/broker/credential/planted.ts',
    "import { randomBytes } from 'node:crypto';",
  ],
  [
    'the policy imports a Node module',
    'src/broker/policy/planted.ts',
    "import { readFileSync } from 'node:fs';",
  ],
  [
    'the oidc room imports a Node module',
    'src/broker/oidc/planted.ts',
    "import { request } from 'node:https';",
  ],
  [
    'the store interface imports a Node module',
    'src/broker/store/planted.ts',
    "import { EventEmitter } from 'node:events';",
  ],
  [
    'the app imports a Node module',
    'src/broker/planted.ts',
    "import { setTimeout } from 'node:timers/promises';",
  ],
  [
    'the exchange imports host/',
    'src/broker/exchange/planted.ts',
    "import { composeBroker } from '../host/compose.js';",
  ],
  [
    'the Node process imports node-redis up front',
    'src/broker/host/node/planted.ts',
    "import { RedisReplayStore } from '../../store/redis.js';",
  ],
  [
    'the store imports host/node/',
    'src/broker/store/planted.ts',
    "import { nodeFetch } from '../host/node/fetch.js';",
  ],
  [
    'the broker imports __tests__/',
    'src/broker/gateway/planted.ts',
    "import { x } from '../../../__tests__/helpers/x.js';",
  ],
  [
    'the local world imports __tests__/',
    'src/local/planted.ts',
    "import { x } from '../../__tests__/helpers/x.js';",
  ],
  ['the bench imports __tests__/', 'bench/planted.ts', "import { x } from '../__tests__/helpers/x.js';"],
  ['a script imports __tests__/', 'scripts/planted.ts', "import { x } from '../__tests__/helpers/x.js';"],
  [
    'the action imports the broker',
    'src/action/planted.ts',
    "import { BrokerError } from '../broker/errors.js';",
  ],
  [
    'the broker imports the action',
    'src/broker/host/planted.ts',
    "import { run } from '../../action/main.js';",
  ],
  [
    'the wire types import the broker',
    'src/shared/planted.ts',
    "import type { Broker } from '../broker/app.js';",
  ],
];

test.each(forbidden)('lint refuses it when %s', async (_, file, code) => {
  expect(await violations(file, `${code}\nexport const planted = 1;\n`)).toContain(IMPORTS);
});

// The arrows that are allowed stay allowed: the rules are by folder, not blanket bans.
const allowed: [string, string, string][] = [
  [
    'the exchange imports policy/',
    'src/broker/exchange/planted.ts',
    "import { evaluatePolicy } from '../policy/evaluate.js';",
  ],
  [
    'the gateway imports the store interface',
    'src/broker/gateway/planted.ts',
    "import { storeKeys } from '../store/store.js';",
  ],
  [
    'host/node imports a Node module',
    'src/broker/host/node/planted.ts',
    "import { createHash } from 'node:crypto';",
  ],
  ['host/ imports the core', 'src/broker/host/planted.ts', "import { createBroker } from '../app.js';"],
  [
    'the Vercel Function imports node-redis (its tracing follows static imports)',
    'src/broker/host/node/vercel.ts',
    "import { RedisReplayStore } from '../../store/redis.js';",
  ],
  [
    'the Node process imports the Redis store as a type',
    'src/broker/host/node/planted.ts',
    "import type { RedisReplayStore } from '../../store/redis.js';",
  ],
  [
    'the action imports the wire types',
    'src/action/planted.ts',
    "import { EXCHANGE_PATH } from '../shared/wire.js';",
  ],
  [
    'a test imports the local world',
    '__tests__/planted.test.ts',
    "import { REPO_ROOT } from '../src/local/runner.js';",
  ],
];

test.each(allowed)('lint allows it when %s', async (_, file, code) => {
  expect(await violations(file, `${code}\nexport const planted = 1;\n`)).toEqual([]);
});

test('lint refuses a source file over 400 lines', async () => {
  const lines = Array.from({ length: 401 }, (_, i) => `export const line${i} = ${i};`).join('\n');
  expect(await violations('src/broker/gateway/handlers/planted.ts', `${lines}\n`)).toContain('max-lines');
  expect(
    await violations(
      'src/broker/gateway/handlers/planted.ts',
      `${lines.split('\n').slice(0, 400).join('\n')}\n`,
    ),
  ).toEqual([]);
});

test('lint refuses a function over 120 lines, nested or not', async () => {
  const body = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join('\n');
  const long = `export function planted() {\n${body(119)}\n  return 0;\n}\n`;
  expect(await violations('src/action/planted.ts', long)).toContain('max-lines-per-function');
  const nested = `export function outer() {\n  return () => {\n${body(119)}\n    return 0;\n  };\n}\n`;
  expect(await violations('src/broker/exchange/planted.ts', nested)).toContain('max-lines-per-function');
  const short = `export function planted() {\n${body(100)}\n  return 0;\n}\n`;
  expect(await violations('src/action/planted.ts', short)).toEqual([]);
});
