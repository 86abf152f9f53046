/** The action with its real dependencies: the post step's revocation, or the main step's `run()`, once. */
import * as core from '@actions/core';
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
  const isPost = isPostStep(core);
  if (isPost) {
    await runPost({
      getState: core.getState,
      fetch,
      retry: defaultRetryPolicy(),
      // Texts from the broker reach the log as data only (relay.ts).
      info: (message) => core.info(inertText(message)),
      warning: (message) => core.warning(annotationText(message)),
      now: Date.now,
    });
  } else {
    markMainStep(core);
  }

  const controller = new AbortController();
  // The runner sends SIGINT, then SIGTERM, when a job is cancelled: stop and cancel the deployment.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());

  if (!isPost)
    await run({
      core: {
        getInput: (name) => core.getInput(name),
        setOutput: core.setOutput,
        setSecret: core.setSecret,
        // Every message may carry Vercel's or the broker's text: printed as data, never as a command
        // (relay.ts); the action's own commands go through setOutput, setSecret, saveState.
        setFailed: (message) => core.setFailed(annotationText(message)),
        saveState: core.saveState,
        exportVariable: core.exportVariable,
        info: (message) => core.info(inertText(message)),
        warning: (message) => core.warning(annotationText(message)),
        relay: createRelay(core.info),
        startGroup: (name) => core.startGroup(annotationText(name)),
        endGroup: core.endGroup,
        getIDToken: (audience) => core.getIDToken(audience),
        writeSummary: async (markdown) => {
          if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(markdown).write();
        },
      },
      env: process.env,
      fetch,
      retry: defaultRetryPolicy({
        onRetry: (what, attempt, delay, reason) =>
          core.info(`${what}: ${reason}; retry ${attempt} in ${(delay / 1000).toFixed(1)} s`),
      }),
      signal: controller.signal,
      now: Date.now,
      github: (settings) => createGitHubApi(settings.githubToken, process.env),
      earlyToken: { current: earlyToken },
    });
}
