/** What the main step leaves for its post step: every state key named once, with typed save and read helpers. */

/** The state keys (core.saveState; the runner hands them back to the post step as STATE_*). */
export const STATE = {
  isPost: 'isPost',
  brokerUrl: 'broker-url',
  credential: 'credential',
  expiresAt: 'expires-at',
} as const;

export interface StateWriter {
  /** Hands a value to this action's post step (GITHUB_STATE). */
  saveState(name: string, value: string): void;
}

export interface StateReader {
  getState(name: string): string;
}

/** The credential the post step revokes, as the main step left it. */
export interface SavedCredential {
  brokerUrl: string;
  /** Empty when none is left: never issued, or already revoked by the main step. */
  credential: string;
  /** Epoch milliseconds; 0 when none was saved. */
  expiresAt: number;
}

/** True in the post step: the main step marked the state before it ran. */
export function isPostStep(state: StateReader): boolean {
  return Boolean(state.getState(STATE.isPost));
}

/** Marks this process as the main step, so the same bundle knows it is the post step next time. */
export function markMainStep(state: StateWriter): void {
  state.saveState(STATE.isPost, 'true');
}

export function saveCredential(
  state: StateWriter,
  saved: { brokerUrl: string; credential: string; expiresAt: number },
): void {
  state.saveState(STATE.brokerUrl, saved.brokerUrl);
  state.saveState(STATE.credential, saved.credential);
  state.saveState(STATE.expiresAt, String(saved.expiresAt));
}

/** The main step revoked the credential itself: nothing left for the post step. */
export function clearCredential(state: StateWriter): void {
  state.saveState(STATE.credential, '');
}

export function readCredential(state: StateReader): SavedCredential {
  return {
    brokerUrl: state.getState(STATE.brokerUrl),
    credential: state.getState(STATE.credential),
    expiresAt: Number(state.getState(STATE.expiresAt)),
  };
}
