/** Follows a build to its end: the log streamed while it lasts, then polling until it settles or times out. */
import { deploymentsGetDeployment } from '@vercel/sdk/funcs/deploymentsGetDeployment.js';
import { DeployError, TERMINAL, type Deployment } from './deployment.js';
import { withRetry } from './retry.js';
import { unwrap, type DeployClient } from './vercel-client.js';

export async function waitForBuild(
  client: DeployClient,
  initial: Deployment,
  timeoutMs: number,
): Promise<Deployment> {
  const { deps } = client;
  const deadline = deps.now() + timeoutMs;
  let deployment = initial;
  const streamAbort = new AbortController();
  const onAbort = () => streamAbort.abort();
  deps.signal.addEventListener('abort', onAbort, { once: true });
  deps.log.startGroup(`Build log of ${deployment.id}`);
  try {
    if (!TERMINAL.has(deployment.readyState)) {
      const timer = setTimeout(() => streamAbort.abort(), Math.max(0, deadline - deps.now()));
      await followEvents(client, deployment.id, streamAbort.signal);
      clearTimeout(timer);
    }
    let interval = deps.pollIntervalMs ?? 1000;
    for (;;) {
      if (deps.signal.aborted) throw new DeployError('the job was cancelled', deployment);
      deployment = await getDeployment(client, deployment.id);
      const done =
        deployment.readyState === 'READY'
          ? Boolean(deployment.aliasAssigned)
          : TERMINAL.has(deployment.readyState);
      if (done) return deployment;
      if (deps.now() >= deadline)
        throw new DeployError(
          `the deployment is still ${deployment.readyState} after the timeout`,
          deployment,
        );
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(interval, Math.max(0, deadline - deps.now()))),
      );
      interval = Math.min(interval * 1.5, 5000);
    }
  } finally {
    deps.log.endGroup();
    deps.signal.removeEventListener('abort', onAbort);
    streamAbort.abort();
  }
}

async function getDeployment({ core, deps }: DeployClient, id: string): Promise<Deployment> {
  return withRetry('read deployment', deps.retry, async () => {
    const result = await deploymentsGetDeployment(
      core,
      { idOrUrl: id },
      { fetchOptions: { signal: deps.signal } },
    );
    return unwrap('reading the deployment', result) as unknown as Deployment;
  });
}

/** Prints the build log as it streams; returns when the stream ends (or fails: polling takes over). */
async function followEvents(
  { settings, deps, auth }: DeployClient,
  id: string,
  signal: AbortSignal,
): Promise<void> {
  const query = new URLSearchParams({ direction: 'forward', follow: '1', format: 'lines' });
  let response: Response;
  try {
    response = await deps.fetch(`${settings.brokerUrl}/v3/deployments/${id}/events?${query}`, {
      headers: auth,
      signal,
    });
  } catch {
    return;
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    return;
  }
  const decoder = new TextDecoder();
  let buffered = '';
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      let newline: number;
      // The build's own output (a dependency's install script writes it): relayed as data, one
      // block per chunk, never as workflow commands (relay.ts).
      const lines: string[] = [];
      let assigned = false;
      while (!assigned && (newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (!line) continue;
        try {
          const event = JSON.parse(line) as { type?: string; text?: unknown; created?: number };
          // Lines without `created` are keep-alives (Vercel CLI util/logs.ts).
          if (typeof event.text === 'string' && event.text && event.created !== undefined)
            lines.push(event.text);
          assigned = event.type === 'alias-assigned';
        } catch {
          // Not JSON: a partial or foreign line is skipped, not fatal.
        }
      }
      deps.log.relay(lines);
      if (assigned) {
        await reader.cancel();
        return;
      }
    }
  } catch {
    // Stream broken: polling finishes the job.
  }
}
