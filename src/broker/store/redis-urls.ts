/**
 * The Redis URL forms the store accepts beyond `redis://` and `rediss://`: a Cluster's seed list and
 * a Sentinel group, parsed here (WHATWG URL cannot hold a host list), and their redaction for logs.
 */

export interface ClusterSeeds {
  tls: boolean;
  username?: string;
  password?: string;
  nodes: Array<{ host: string; port: number }>;
}

export interface SentinelGroup extends ClusterSeeds {
  /** The master group's name the sentinels monitor (`sentinel monitor <name> …`). */
  name: string;
  database: number;
  /** Credentials for the sentinels themselves, when they require a password. */
  sentinelUsername?: string;
  sentinelPassword?: string;
}

const AUTHORITY = /^(rediss?)\+(cluster|sentinel):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#@]+)/;

function hostList(text: string, form: string, defaultPort: number) {
  return text.split(',').map((node) => {
    const hostPort = /^([^:,]+)(?::(\d{1,5}))?$/.exec(node.trim());
    if (!hostPort) throw new Error(`the ${form} URL must list nodes as host:port,host:port`);
    return { host: hostPort[1]!, port: hostPort[2] ? Number(hostPort[2]) : defaultPort };
  });
}

const credentials = (user: string | undefined, password: string | undefined) => ({
  ...(user ? { username: decodeURIComponent(user) } : {}),
  ...(password ? { password: decodeURIComponent(password) } : {}),
});

/**
 * `redis+cluster://[user[:password]@]host1:port1,host2:port2` (`rediss+cluster://` for TLS): seed
 * nodes of a Redis Cluster, from which the client discovers the rest. A cluster has database 0 only,
 * so no `/db`. `undefined` when the URL is not a cluster URL.
 */
export function parseClusterUrl(url: string): ClusterSeeds | undefined {
  const match = /^(rediss?)\+cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#@]+)\/?$/.exec(url);
  if (!match) return undefined;
  return {
    tls: match[1] === 'rediss',
    ...credentials(match[2], match[3]),
    nodes: hostList(match[4]!, 'Redis Cluster', 6379),
  };
}

/**
 * `redis+sentinel://[user[:password]@]host1:26379,host2:26379/<master name>[/db]` (`rediss+sentinel://`
 * for TLS to the sentinels and the data nodes alike). The credentials are the data nodes' (the ACL
 * user the broker works as); sentinels that require a password take `?sentinel_password=` (and
 * `sentinel_user=`). `undefined` when the URL is not a sentinel URL.
 */
export function parseSentinelUrl(url: string): SentinelGroup | undefined {
  const match = AUTHORITY.exec(url);
  if (!match || match[2] !== 'sentinel') return undefined;
  const rest = url.slice(match[0].length);
  const path = /^\/([^/?#]+)(?:\/(\d{1,2}))?\/?(?:\?([^#]*))?$/.exec(rest);
  if (!path)
    throw new Error(
      'the Redis Sentinel URL must name the master group: redis+sentinel://user:password@host1:26379,host2:26379/mymaster',
    );
  const query = new URLSearchParams(path[3] ?? '');
  for (const key of query.keys())
    if (key !== 'sentinel_user' && key !== 'sentinel_password')
      throw new Error(
        `the Redis Sentinel URL accepts sentinel_user and sentinel_password as query parameters, not ${key.slice(0, 40)}`,
      );
  const sentinelUser = query.get('sentinel_user');
  const sentinelPassword = query.get('sentinel_password');
  return {
    tls: match[1] === 'rediss',
    ...credentials(match[3], match[4]),
    nodes: hostList(match[5]!, 'Redis Sentinel', 26379),
    name: decodeURIComponent(path[1]!),
    database: path[2] ? Number(path[2]) : 0,
    ...(sentinelUser ? { sentinelUsername: sentinelUser } : {}),
    ...(sentinelPassword ? { sentinelPassword } : {}),
  };
}

/** The URL with its passwords replaced, for log lines and error messages. */
export function redactRedisUrl(url: string): string {
  const multi = AUTHORITY.exec(url);
  if (multi) {
    const [, scheme, form, user, password, hosts] = multi;
    const auth =
      user !== undefined || password !== undefined ? `${user ?? ''}${password ? ':***' : ''}@` : '';
    const rest = url.slice(multi[0].length).replace(/(sentinel_password=)[^&#]*/g, '$1***');
    return `${scheme}+${form}://${auth}${hosts}${rest}`;
  }
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'an unparseable Redis URL';
  }
}
