/**
 * The broker-url input's rules (https, plain http on loopback only; no query, fragment or user info)
 * and the audience it implies. Apart from inputs.ts so that early-token.ts, which reads the audience
 * before the rest of the action loads, loads nothing else with it.
 */
import { isHttpsOrLoopback } from '../shared/wire.js';

export function parseBrokerUrl(
  rawUrl: string,
  report: (input: 'broker-url', message: string) => void,
): URL | undefined {
  if (!rawUrl) {
    report(
      'broker-url',
      "is required: the URL of your organisation's Keyhole broker, e.g. https://keyhole.example.com",
    );
    return undefined;
  }
  let brokerUrl: URL;
  try {
    brokerUrl = new URL(rawUrl);
  } catch {
    report('broker-url', `"${rawUrl}" is not a URL; write e.g. https://keyhole.example.com`);
    return undefined;
  }
  if (!isHttpsOrLoopback(brokerUrl)) {
    report(
      'broker-url',
      'must use https:// (the credential travels in it); plain http is accepted only on loopback',
    );
    return undefined;
  }
  if (brokerUrl.search || brokerUrl.hash || brokerUrl.username) {
    report('broker-url', 'must not contain a query, fragment or user info');
    return undefined;
  }
  return brokerUrl;
}

/** The audience input, else the broker's origin: what the job's OIDC token is asked for. */
export const audienceOf = (getInput: (name: string) => string, brokerUrl: URL | undefined) =>
  getInput('audience').trim() || brokerUrl?.origin || '';

/**
 * The audience read alone, before the other inputs are (early-token.ts asks GitHub for the first
 * token while the action loads); undefined when broker-url does not parse, so nothing is asked.
 */
export function readAudience(getInput: (name: string) => string): string | undefined {
  const brokerUrl = parseBrokerUrl(getInput('broker-url').trim(), () => undefined);
  return brokerUrl ? audienceOf(getInput, brokerUrl) : undefined;
}
