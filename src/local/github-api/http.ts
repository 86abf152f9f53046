/** The request as every route of the local GitHub API sees it: parsed once, recorded, answered as JSON. */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  json?: unknown;
  authorization?: string;
}

export interface GitHubRequest {
  method: string;
  url: URL;
  auth: string | undefined;
  json: Record<string, unknown> | undefined;
  send(status: number, body: unknown): void;
}

export const NOT_FOUND = { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' };

/** Reads the body, records the call and returns the request the routes answer. */
export async function readRequest(
  req: IncomingMessage,
  res: ServerResponse,
  calls: RecordedCall[],
): Promise<GitHubRequest> {
  const url = new URL(req.url ?? '/', 'http://local');
  let text = '';
  for await (const chunk of req) text += String(chunk);
  let json: Record<string, unknown> | undefined;
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    json = undefined; // not JSON: the routes that read a body answer as if it were empty
  }
  calls.push({
    method: req.method ?? 'GET',
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    ...(json ? { json } : {}),
    ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
  });
  return {
    method: req.method ?? 'GET',
    url,
    auth: req.headers.authorization,
    json,
    send: (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body));
    },
  };
}
