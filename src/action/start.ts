/** The action with its real dependencies: the post step's revocation, or the main step's `run()`, once. */
import { commands } from './commands.js';
import { createGitHubApi } from './github.js';
import type { EarlyToken } from './early-token.js';
import { run } from './main.js';
import { defaultRetryPolicy } from './retry.js';
import { annotationText, createRelay, inertText } from './relay.js';
import { runPost } from './revoke.js';
import { isPostStep, markMainStep } from './state.js';

/** Runs the step this process is; `earlyToken` is the OIDC token asked for at start (index.ts). */
export async function start(earlyToken: EarlyToken | undefined): Promise<void> {
  // One bundle, two steps: action.yml names it as both `main` and `post`; the saved state tells them
  // apart. The post step only revokes what the main step left.
  const isPost = isPostStep(commands);
  if (isPost) {
    await runPost({
      getState: commands.getState,
      fetch,
      retry: defaultRetryPolicy(),
      // Texts from the broker reach the log as data only (relay.ts).
      info: (message) => commands.info(inertText(message)),
      warning: (message) => commands.warning(annotationText(message)),
      now: Date.now,
    });
  } else {
    markMainStep(commands);
  }

  const controller = new AbortController();
  // The runner sends SIGINT, then SIGTERM, when a job is cancelled: stop and cancel the deployment.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());

  if (!isPost)
    await run({
      core: {
        getInput: (name) => commands.getInput(name),
        setOutput: commands.setOutput,
        setSecret: commands.setSecret,
        // Every message may carry Vercel's or the broker's text: printed as data, never as a command
        // (relay.ts); the action's own commands go through setOutput, setSecret, saveState.
        setFailed: (message) => commands.setFailed(annotationText(message)),
        saveState: commands.saveState,
        exportVariable: commands.exportVariable,
        info: (message) => commands.info(inertText(message)),
        warning: (message) => commands.warning(annotationText(message)),
        relay: createRelay(commands.info),
        startGroup: (name) => commands.startGroup(annotationText(name)),
        endGroup: commands.endGroup,
        // Only when the early request (early-token.ts) gave no token: @actions/core, loaded then.
        getIDToken: async (audience) => (await import('@actions/core')).getIDToken(audience),
        writeSummary: commands.writeSummary,
      },
      env: process.env,
      fetch,
      retry: defaultRetryPolicy({
        onRetry: (what, attempt, delay, reason) =>
          commands.info(`${what}: ${reason}; retry ${attempt} in ${(delay / 1000).toFixed(1)} s`),
      }),
      signal: controller.signal,
      now: Date.now,
      github: (settings) => createGitHubApi(settings.githubToken, process.env),
      earlyToken: { current: earlyToken },
    });
}
