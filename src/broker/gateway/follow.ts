/**
 * Followed streams (a build's events, runtime logs) end when the credential that opened them does:
 * once it has expired, a stream opened with it a minute earlier reads nothing more, and holds no
 * upstream connection past it. The client sees the stream end; asking again, it is refused (401).
 */
import type { ProjectContext } from './context.js';

export function endingWithCredential(
  response: Response,
  ctx: Pick<ProjectContext, 'claims' | 'now'>,
): Response {
  if (!response.ok || response.body === null) return response;
  const reader = response.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ended = false;
  const end = (controller: ReadableStreamDefaultController<Uint8Array>) => {
    clearTimeout(timer);
    if (ended) return;
    ended = true;
    controller.close();
  };
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setTimeout(
        () => {
          end(controller);
          // The upstream connection goes with it.
          void reader.cancel().catch(() => undefined);
        },
        Math.max(0, ctx.claims.exp - ctx.now()),
      );
      // Node: a timer waiting on a long-lived credential does not hold the process open.
      (timer as { unref?: () => void }).unref?.();
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) end(controller);
      else if (!ended) controller.enqueue(value);
    },
    cancel(reason) {
      clearTimeout(timer);
      return reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
