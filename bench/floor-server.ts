/**
 * What node:http itself costs, the floor under two of the broker's figures, in its own process:
 * `proxy <upstream> <token>` forwards every request to the upstream with the token, piping bodies
 * both ways and checking nothing; `answer <bytes>` reads each request's JSON body and answers a
 * fixed JSON body of that size, as an exchange answers. Prints `{"url"}` once listening.
 */
import { Agent, createServer, request } from 'node:http';

const [mode, ...args] = process.argv.slice(2);

function proxy(upstream: URL, token: string) {
  const agent = new Agent({ keepAlive: true });
  return createServer((req, res) => {
    const headers = { ...req.headers, host: upstream.host, authorization: `Bearer ${token}` };
    const out = request(
      { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  });
}

function answer(bytes: number) {
  const body = JSON.stringify({ credential: 'k'.repeat(Math.max(0, bytes - 18)) });
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      });
      res.end(body);
    });
  });
}

const server = mode === 'proxy' ? proxy(new URL(args[0]!), args[1]!) : answer(Number(args[0]));
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${address.port}` })}\n`);
});
