/** The broker-url input's rules: https (plain http on loopback only), no query, fragment or user info. */
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
