import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The rooms of the code and the arrows between them (docs/architecture.md, "Rooms"): each ban is
// checked by folder, so a new file in a room obeys its room's rules without being listed anywhere.
const ban = (group, message) => ({ group, message });
const TESTS = ban(
  ['**/__tests__/**'],
  'tests import the product, never the other way round: move what both need to src/local/',
);
const ACTION = ban(
  ['**/action/**'],
  'the broker never imports the action: share wire types through src/shared/',
);
const BROKER = ban(
  ['**/broker/**'],
  'the action never imports the broker: share wire types through src/shared/',
);
const NODE = ban(
  ['node:*'],
  'the broker core runs on Workers and Vercel Functions too: Node APIs belong in src/broker/host/node/',
);
const HOST = ban(
  ['**/host/**'],
  'the core never depends on a runtime: host/ composes the broker from the core',
);
const POLICY = ban(
  ['**/policy/**'],
  "the gateway serves a credential already granted; deciding who may deploy is the exchange's job: declare what the gateway reads in gateway/context.ts",
);
const REDIS = {
  ...ban(
    ['**/store/redis.js'],
    "the Node process loads node-redis only when its config names Redis: import('../../store/redis.js') into deferredStore (store/deferred.ts)",
  ),
  allowTypeImports: true,
};
const restrict = (files, ...bans) => ({
  files,
  rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: bans }] },
});
const CORE = ['credential', 'exchange', 'github', 'limits', 'oidc', 'policy', 'store'];

export default tseslint.config(
  { ignores: ['dist/', 'deploy/vercel/lib/', 'node_modules/', 'coverage/', '.build/', '.bench/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // One job per file, one step per function (CONTRIBUTING.md).
    files: ['src/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 400 }],
      'max-lines-per-function': ['error', { max: 120 }],
    },
  },
  restrict(['bench/**', 'scripts/**', 'src/local/**'], TESTS),
  restrict(['src/action/**'], TESTS, BROKER),
  restrict(['src/shared/**'], TESTS, BROKER, ACTION),
  restrict(['src/broker/host/**'], TESTS, ACTION),
  // The Vercel Function imports it statically: its file tracing follows static imports only.
  {
    ...restrict(['src/broker/host/node/**'], TESTS, ACTION, REDIS),
    ignores: ['src/broker/host/node/vercel.ts'],
  },
  restrict(['src/broker/*.ts', ...CORE.map((room) => `src/broker/${room}/**`)], TESTS, ACTION, NODE, HOST),
  restrict(['src/broker/gateway/**'], TESTS, ACTION, NODE, HOST, POLICY),
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
