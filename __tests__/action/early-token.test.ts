/** The OIDC token request made as the action starts (src/action/early-token.ts), against a local token service. */
import * as core from '@actions/core';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inputFromEnv, requestEarlyToken, takeEarlyToken } from '../../src/action/early-token.js';

let server: Server;
let answer: (res: ServerResponse) => void;
const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
let requestUrl = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    answer(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  requestUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/_apis/token?api-version=2.0`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  seen.length = 0;
  answer = (res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"count":1,"value":"eyJ.token"}');
});

const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ACTIONS_ID_TOKEN_REQUEST_URL: requestUrl,
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-bearer',
  'INPUT_BROKER-URL': 'https://keyhole.example.com/',
  ...extra,
});

test('asks for the broker origin as audience, as @actions/core does, and hands the token over once', async () => {
  const early = requestEarlyToken(env())!;
  await early.sent;
  expect(early.audience).toBe('https://keyhole.example.com');
  expect(await early.token).toBe('eyJ.token');
  expect(seen).toHaveLength(1);
  expect(seen[0]!.url).toBe('/_apis/token?api-version=2.0&audience=https%3A%2F%2Fkeyhole.example.com');
  expect(seen[0]!.headers.authorization).toBe('Bearer runner-bearer');
  expect(seen[0]!.headers['user-agent']).toBe('actions/oidc-client');
  const holder = { current: early };
  expect(await takeEarlyToken(holder, 'https://keyhole.example.com')).toBe('eyJ.token');
  // Each token is exchanged once: a retry asks GitHub for a fresh one.
  expect(await takeEarlyToken(holder, 'https://keyhole.example.com')).toBeUndefined();
});

test('the audience input wins over the broker origin; a token for another audience is not handed over', async () => {
  const early = requestEarlyToken(env({ INPUT_AUDIENCE: ' custom-aud ' }))!;
  expect(early.audience).toBe('custom-aud');
  expect(await early.token).toBe('eyJ.token');
  expect(await takeEarlyToken({ current: early }, 'https://keyhole.example.com')).toBeUndefined();
});

test.each([
  ['the post step', { STATE_isPost: 'true' }],
  ['a job without id-token permission', { ACTIONS_ID_TOKEN_REQUEST_URL: '' }],
  ['a job without the request token', { ACTIONS_ID_TOKEN_REQUEST_TOKEN: '' }],
  ['a runner behind a proxy', { https_proxy: 'http://proxy:3128' }],
  ['a runner behind a proxy (HTTP_PROXY)', { HTTP_PROXY: 'http://proxy:3128' }],
  ['a broker-url that is not a URL', { 'INPUT_BROKER-URL': 'keyhole' }],
  ['a broker-url in plain http off loopback', { 'INPUT_BROKER-URL': 'http://keyhole.example.com' }],
  ['no broker-url', { 'INPUT_BROKER-URL': '' }],
])('%s: nothing is asked', async (_name, extra) => {
  expect(requestEarlyToken(env(extra))).toBeUndefined();
  await new Promise((r) => setTimeout(r, 20));
  expect(seen).toHaveLength(0);
});

test('a token URL that is not http(s) is not asked', () => {
  expect(requestEarlyToken(env({ ACTIONS_ID_TOKEN_REQUEST_URL: 'file:///etc/passwd?x=1' }))).toBeUndefined();
});

test.each([
  ['a 500', (res: ServerResponse) => res.writeHead(500).end('{"value":"eyJ.no"}')],
  ['a 200 that is not JSON', (res: ServerResponse) => res.writeHead(200).end('<html>')],
  ['a 200 without a value', (res: ServerResponse) => res.writeHead(200).end('{"count":1}')],
  ['a 200 whose value is not a string', (res: ServerResponse) => res.writeHead(200).end('{"value":42}')],
  [
    'an answer past 64 KiB',
    (res: ServerResponse) => res.writeHead(200).end(`{"value":"${'a'.repeat(70_000)}"}`),
  ],
  [
    'a connection cut mid-answer',
    (res: ServerResponse) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"value":"eyJ');
      setTimeout(() => res.socket?.destroy(), 10);
    },
  ],
])('%s: no token, so the exchange asks through @actions/core', async (_name, reply) => {
  answer = reply;
  const early = requestEarlyToken(env())!;
  await early.sent;
  expect(await early.token).toBeUndefined();
});

test('a token service that is not there: no token, and `sent` settles', async () => {
  const early = requestEarlyToken(env({ ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:9/token?x=1' }))!;
  await early.sent;
  expect(await early.token).toBeUndefined();
});

test('inputFromEnv reads inputs as @actions/core getInput does', () => {
  const names = ['broker-url', 'audience', 'github token', 'Project'];
  const values = ['  https://a.example  ', '', ' aud ', 'x'];
  const saved = { ...process.env };
  try {
    names.forEach((name, i) => (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = values[i]));
    for (const name of [...names, 'absent'])
      expect(inputFromEnv(process.env)(name)).toBe(core.getInput(name));
  } finally {
    process.env = saved;
  }
});
