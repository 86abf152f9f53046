/**
 * The Dockerfile and the Kubernetes example, checked where Docker cannot run: each invariant an
 * operator relies on (pinned base, non-root, read-only root, probes, the memory flag, the secret
 * holding every variable the config names), the health check run for real against the bundled
 * broker, and the example's policy checked by the bundled CLI.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { BROKER_BUNDLE, REPO_ROOT, startBrokerProcess } from '../../src/local/runner.js';
import { brokerYaml, LOCAL_URLS } from '../../src/local/config.js';
import { SIGNING_KEY } from '../../src/local/world.js';

const exec = promisify(execFile);

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions in order: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const logical = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return logical
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
    });
}

const dockerfile = parseDockerfile(readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const all = (keyword: string) => dockerfile.filter((i) => i.keyword === keyword);
const one = (keyword: string) => {
  const found = all(keyword);
  expect({ keyword, count: found.length }).toEqual({ keyword, count: 1 });
  return found[0]!;
};
const execForm = (instruction: Instruction) => JSON.parse(instruction.args) as string[];
const healthcheckCommand = () =>
  execForm({ keyword: 'CMD', args: one('HEALTHCHECK').args.replace(/^.*?CMD\s+/, '') });

interface K8sObject {
  kind: string;
  metadata: { name: string };
  [field: string]: unknown;
}
const manifest = parseAllDocuments(
  readFileSync(path.join(REPO_ROOT, 'deploy', 'kubernetes', 'keyhole-broker.yaml'), 'utf8'),
).map((doc) => {
  expect(doc.errors).toEqual([]);
  return doc.toJS() as K8sObject;
});
const ofKind = <T>(kind: string) => manifest.find((o) => o.kind === kind) as unknown as T;

interface Container {
  image: string;
  args: string[];
  ports: { name: string; containerPort: number }[];
  envFrom: { secretRef: { name: string } }[];
  securityContext: Record<string, unknown>;
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Deployment {
  spec: {
    replicas: number;
    template: {
      spec: {
        securityContext: Record<string, unknown>;
        terminationGracePeriodSeconds: number;
        automountServiceAccountToken: boolean;
        containers: Container[];
        volumes: { name: string; configMap: { name: string } }[];
      };
    };
  };
}
const deployment = ofKind<Deployment>('Deployment');
const pod = deployment.spec.template.spec;
const container = pod.containers[0]!;
const secret = ofKind<{ metadata: { name: string }; stringData: Record<string, string> }>('Secret');
const configMap = ofKind<{ metadata: { name: string }; data: Record<string, string> }>('ConfigMap');

describe('Dockerfile', () => {
  test('one stage, based on node:24-slim pinned by a sha256 digest', () => {
    expect(one('FROM').args).toMatch(/^node:24-slim@sha256:[0-9a-f]{64}$/);
  });

  test('copies only the broker bundle, which .dockerignore lets through, and installs nothing', () => {
    expect(all('COPY').map((i) => i.args)).toEqual(['dist/broker/ ./dist/broker/']);
    expect(all('RUN')).toEqual([]);
    expect(all('ADD')).toEqual([]);
    expect(readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n')).toEqual(
      expect.arrayContaining(['*', '!dist/broker/']),
    );
  });

  test('runs as a numeric non-root user, set before the entry point', () => {
    const user = one('USER');
    expect(user.args).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    const order = dockerfile.map((i) => i.keyword);
    expect(order.indexOf('USER')).toBeGreaterThan(order.lastIndexOf('COPY'));
    expect(order.indexOf('USER')).toBeLessThan(order.indexOf('ENTRYPOINT'));
  });

  test('needs no writable path: no VOLUME, no secret baked into ENV', () => {
    expect(all('VOLUME')).toEqual([]);
    for (const env of all('ENV')) expect(env.args).not.toMatch(/KEY|TOKEN|SECRET|PASSWORD|REDIS_URL/i);
  });

  test('the entry point runs the bundle with --max-semi-space-size=1 and serves on all interfaces', () => {
    expect(execForm(one('ENTRYPOINT'))).toEqual([
      'node',
      '--max-semi-space-size=1',
      '/opt/keyhole/dist/broker/index.js',
    ]);
    expect(execForm(one('CMD'))).toEqual([
      'serve',
      '--config',
      '/etc/keyhole/broker.yaml',
      '--host',
      '0.0.0.0',
    ]);
    expect(one('EXPOSE').args).toBe('8787');
  });

  test('the health check asks /healthz: 0 against the running bundle, 1 once it has stopped', async () => {
    const command = healthcheckCommand();
    expect(command.join(' ')).toMatch(/\/healthz/);
    const dir = mkdtempSync(path.join(tmpdir(), 'keyhole-container-'));
    try {
      writeFileSync(path.join(dir, 'broker.yaml'), brokerYaml(LOCAL_URLS));
      const broker = await startBrokerProcess({
        configPath: path.join(dir, 'broker.yaml'),
        env: { KEYHOLE_SIGNING_KEY: SIGNING_KEY },
      });
      const env = { PATH: process.env.PATH, PORT: new URL(broker.url).port };
      const [node, ...args] = command;
      expect(node).toBe('node');
      await expect(exec(process.execPath, args, { env })).resolves.toBeDefined();
      expect(await broker.stop()).toBe(0);
      await expect(exec(process.execPath, args, { env })).rejects.toMatchObject({ code: 1 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Kubernetes example', () => {
  test('a Deployment of two replicas of the broker', () => {
    expect(deployment.spec.replicas).toBe(2);
    expect(container.image).toMatch(/^ghcr\.io\/[^/]+\/keyhole-broker[:@]/);
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  test('non-root as the image user, read-only root filesystem, no privilege escalation', () => {
    const [uid, gid] = one('USER').args.split(':').map(Number);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid, runAsGroup: gid });
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
  });

  test('readiness on /readyz, liveness on /healthz, on the port the broker listens on', () => {
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    const port = container.ports.find((p) => p.name === container.readinessProbe.httpGet.port);
    expect(port?.containerPort).toBe(Number(container.args[container.args.indexOf('--port') + 1]));
    expect(container.livenessProbe.httpGet.port).toBe(port?.name);
  });

  test('the grace period outlasts the broker drain after SIGTERM (10 s)', () => {
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(10);
  });

  test('the config comes from the ConfigMap at the path the container reads, read-only', () => {
    const configPath = container.args[container.args.indexOf('--config') + 1]!;
    const mount = container.volumeMounts.find((m) => configPath.startsWith(`${m.mountPath}/`));
    expect(mount?.readOnly).toBe(true);
    const volume = pod.volumes.find((v) => v.name === mount?.name);
    expect(volume?.configMap.name).toBe(configMap.metadata.name);
    expect(Object.keys(configMap.data)).toContain(path.basename(configPath));
  });

  test('the Secret holds every variable the config names, the Redis URL among them', () => {
    expect(container.envFrom).toEqual([{ secretRef: { name: secret.metadata.name } }]);
    const text = configMap.data['broker.yaml']!;
    const named = [...text.matchAll(/^\s*\w+_env: (\w+)$/gm)].map((m) => m[1]);
    expect(named).toEqual(
      expect.arrayContaining(['KEYHOLE_SIGNING_KEY', 'KEYHOLE_REDIS_URL', 'VERCEL_TOKEN_MARKETING']),
    );
    expect(text).toMatch(/^replay_store_env: KEYHOLE_REDIS_URL$/m);
    for (const name of named) expect(Object.keys(secret.stringData)).toContain(name);
    expect(secret.stringData.KEYHOLE_REDIS_URL).toMatch(/^rediss:\/\//);
    // Behind the Ingress, clients are counted by the forwarded address, not the proxy's own.
    expect(text).toMatch(/^trust_proxy: true$/m);
    // The policy file itself carries no secret.
    expect(text).not.toMatch(/replace-me|rediss?:\/\//);
  });

  test('its policy passes `keyhole-broker policy check` (the bundle) with no warning, in the pod environment', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keyhole-k8s-'));
    try {
      writeFileSync(path.join(dir, 'broker.yaml'), configMap.data['broker.yaml']!);
      const { stdout, stderr } = await exec(
        process.execPath,
        [BROKER_BUNDLE, 'policy', 'check', '--config', path.join(dir, 'broker.yaml')],
        { env: { PATH: process.env.PATH, ...secret.stringData } },
      );
      expect({ stdout, stderr }).toEqual({
        stdout: expect.stringMatching(/^ok: .*broker\.yaml: 1 project\(s\), 2 rule\(s\), 0 warning\(s\)$/m),
        stderr: '',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
