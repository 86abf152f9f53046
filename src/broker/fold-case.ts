/**
 * ASCII-only case folding, shared by the policy (rules compiled once) and the gateway (claims at
 * each call): `toLocaleLowerCase` would let Unicode look-alikes compare equal.
 */
export function foldCase(value: string): string {
  return value.replace(/[A-Z]/g, (c) => c.toLowerCase());
}
