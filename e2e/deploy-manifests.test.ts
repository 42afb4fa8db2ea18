/**
 * deploy/k8s and deploy/compose.yaml checked without a cluster (none is available here): every
 * document parses, the kinds are the ones meant, the images are the tags docker-images.test.ts
 * builds, the references between documents resolve, and every environment variable set is a real
 * configuration key of the binary it is given to.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@falconet/protocol/config';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { agentConfigSchema } from '../packages/agent/src/config.ts';
import { serverConfigSchema } from '../packages/server/src/config.ts';
import { ROOT } from '../testing/processes.ts';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const IMAGES = { agent: `falconet/agent:${VERSION}`, server: `falconet/server:${VERSION}` };

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  hostPID?: boolean;
  hostNetwork?: boolean;
  securityContext?: { runAsUser?: number; runAsNonRoot?: boolean; fsGroup?: number };
  initContainers?: Container[];
  containers: Container[];
  volumes: { name: string; hostPath?: { path: string }; persistentVolumeClaim?: { claimName: string }; secret?: { secretName: string } }[];
}
interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: {
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    ports?: { name: string; port: number; targetPort: string | number }[];
  };
  stringData?: Record<string, string>;
}

const K8S = join(ROOT, 'deploy/k8s');
const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml'));
const parsed = files.flatMap((f) => parseAllDocuments(readFileSync(join(K8S, f), 'utf8')).map((d) => ({ file: f, d })));
const docs = parsed.map(({ d }) => d.toJS() as Doc);
const one = (kind: string, name: string): Doc => {
  const found = docs.filter((d) => d.kind === kind && d.metadata.name === name);
  expect(found, `${kind}/${name}`).toHaveLength(1);
  return found[0] as Doc;
};
const plainEnv = (c: Container) => Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));

describe('deploy/k8s', () => {
  it('parses, document by document, into the kinds meant, all in one namespace', () => {
    for (const { file, d } of parsed) expect(d.errors, file).toEqual([]);
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      'DaemonSet/falconet-agent',
      'Deployment/falconet-server',
      'Namespace/falconet',
      'PersistentVolumeClaim/falconet-server-data',
      'Secret/falconet-admin',
      'Secret/falconet-agent-tokens',
      'Service/falconet-server',
    ]);
    for (const d of docs.filter((d) => d.kind !== 'Namespace')) expect(d.metadata.namespace, d.metadata.name).toBe('falconet');
  });

  it('runs the images deploy/Dockerfile builds, tagged with the release version', () => {
    const images = docs
      .flatMap((d) => [...(d.spec?.template?.spec.initContainers ?? []), ...(d.spec?.template?.spec.containers ?? [])])
      .map((c) => c.image);
    expect(new Set(images)).toEqual(new Set([IMAGES.agent, IMAGES.server]));
    expect(one('DaemonSet', 'falconet-agent').spec?.template?.spec.containers[0]?.image).toBe(IMAGES.agent);
    expect(one('Deployment', 'falconet-server').spec?.template?.spec.containers[0]?.image).toBe(IMAGES.server);
  });

  it("the DaemonSet shares the host's pid and network namespaces and mounts /proc, /sys and / read-only", () => {
    const spec = one('DaemonSet', 'falconet-agent').spec?.template?.spec as PodSpec;
    expect(spec.hostPID).toBe(true);
    expect(spec.hostNetwork).toBe(true);
    const agent = spec.containers[0] as Container;
    const hostPathOf = new Map(spec.volumes.map((v) => [v.name, v.hostPath?.path]));
    const mounted = new Map((agent.volumeMounts ?? []).map((m) => [hostPathOf.get(m.name), m]));
    for (const path of ['/proc', '/sys', '/']) {
      expect(mounted.get(path)?.readOnly, path).toBe(true);
    }
    // The collectors read where those are mounted.
    const { config, ignoredEnv } = loadConfig(agentConfigSchema, { env: plainEnv(agent) });
    expect(ignoredEnv).toEqual([]);
    expect(config.procfs).toEqual({
      proc: mounted.get('/proc')?.mountPath,
      sys: mounted.get('/sys')?.mountPath,
      rootfs: mounted.get('/')?.mountPath,
    });
    // It reports to the Service, by its cluster name, on the gRPC port.
    const service = one('Service', 'falconet-server');
    const grpc = service.spec?.ports?.find((p) => p.name === 'grpc');
    expect(config.server.url).toBe(`${service.metadata.name}.${service.metadata.namespace}.svc:${grpc?.port}`);
    // Its token comes from the Secret, by the node's name, and the server's pin beside it.
    const tokens = one('Secret', 'falconet-agent-tokens').metadata.name;
    expect(spec.volumes.find((v) => v.secret)?.secret?.secretName).toBe(tokens);
    expect(agent.env?.find((e) => e.name === 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
    expect(agent.args?.join(' ')).toContain('FALCONET_SERVER_TOKEN=$(cat "/etc/falconet/tokens/$NODE_NAME")');
    expect(agent.env?.find((e) => e.name === 'FALCONET_TRANSPORT_TLS_FINGERPRINT')?.valueFrom?.secretKeyRef?.name).toBe(tokens);
  });

  it('the server keeps its data on the claim, runs as the image user, and the Service reaches its ports', () => {
    const deployment = one('Deployment', 'falconet-server');
    const spec = deployment.spec?.template?.spec as PodSpec;
    const claim = one('PersistentVolumeClaim', 'falconet-server-data');
    const dataVolume = spec.volumes.find((v) => v.persistentVolumeClaim)?.name;
    expect(spec.volumes.find((v) => v.name === dataVolume)?.persistentVolumeClaim?.claimName).toBe(claim.metadata.name);
    const server = spec.containers[0] as Container;
    const { config, ignoredEnv } = loadConfig(serverConfigSchema, { env: { FALCONET_DATA_DIR: '/var/lib/falconet', ...plainEnv(server) } });
    expect(ignoredEnv).toEqual([]);
    expect(server.volumeMounts?.find((m) => m.name === dataVolume)?.mountPath).toBe(config.data_dir);
    expect(config.listen).toBe('0.0.0.0:7070');
    expect(config.grpc_listen).toBe('0.0.0.0:7071');
    expect(config.grpc_tls.hosts).toContain('falconet-server.falconet.svc');
    // The uid the Dockerfile gives the server's user.
    const uid = /useradd [^\n]*--uid (\d+)/.exec(readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8'))?.[1];
    expect(spec.securityContext?.runAsUser).toBe(Number(uid));
    expect(spec.securityContext?.fsGroup).toBe(Number(uid));
    // The first admin's password from the Secret, into the init container that makes it.
    const init = spec.initContainers?.[0] as Container;
    expect(init.args?.join(' ')).toContain('create-user --name "$ADMIN_NAME" --role admin --password "$ADMIN_PASSWORD"');
    const ref = init.env?.find((e) => e.name === 'ADMIN_PASSWORD')?.valueFrom?.secretKeyRef;
    expect(Object.keys(one('Secret', ref?.name ?? '').stringData ?? {})).toContain(ref?.key);
    expect(init.volumeMounts?.[0]?.mountPath).toBe(config.data_dir);
    // The Service selects the pods and names their ports.
    const service = one('Service', 'falconet-server');
    expect(service.spec?.selector).toEqual(deployment.spec?.template?.metadata.labels);
    const portNames = (server.ports ?? []).map((p) => p.name);
    for (const p of service.spec?.ports ?? []) expect(portNames).toContain(p.targetPort);
  });
});

describe('deploy/compose.yaml', () => {
  const compose = parse(readFileSync(join(ROOT, 'deploy/compose.yaml'), 'utf8')) as {
    services: Record<string, { image: string; profiles?: string[]; environment?: Record<string, string>; volumes?: string[] }>;
    volumes: Record<string, unknown>;
  };
  /** Compose's `${NAME:-default}` as it reads with nothing set. */
  const defaulted = (s: string) => s.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

  it('defaults to the images built for this version; PostgreSQL only under its profile', () => {
    expect(defaulted(compose.services.server?.image ?? '')).toBe(IMAGES.server);
    expect(defaulted(compose.services.agent?.image ?? '')).toBe(IMAGES.agent);
    expect(compose.services.postgres?.profiles).toEqual(['postgres']);
    expect(compose.services.server?.profiles).toBeUndefined();
    expect(compose.services.server?.volumes).toContain('server-data:/var/lib/falconet');
    expect(Object.keys(compose.volumes)).toContain('server-data');
  });

  it('sets only real configuration keys, with defaults that make a working pair on loopback', () => {
    const envOf = (name: string) =>
      Object.fromEntries(Object.entries(compose.services[name]?.environment ?? {}).map(([k, v]) => [k, defaulted(String(v))]));
    const server = loadConfig(serverConfigSchema, { env: envOf('server') });
    expect(server.ignoredEnv).toEqual([]);
    const agent = loadConfig(agentConfigSchema, { env: envOf('agent') });
    expect(agent.ignoredEnv).toEqual([]);
    expect(agent.config.server.url).toBe(`http://${server.config.grpc_listen}`);
  });

  it('docker-compose reads it with the postgres profile, and the server is pointed at it by FALCONET_DATABASE_URL', () => {
    const url = 'postgres://falconet:pw@127.0.0.1:5433/falconet';
    const config = (args: string[]) =>
      parse(
        execFileSync('docker-compose', ['-f', join(ROOT, 'deploy/compose.yaml'), ...args, 'config'], {
          encoding: 'utf8',
          env: { PATH: process.env.PATH, FALCONET_DATABASE_URL: url, FALCONET_POSTGRES_PASSWORD: 'pw' },
        }),
      ) as { services: Record<string, { environment?: Record<string, string>; command?: string[] }> };
    const withPostgres = config(['--profile', 'postgres']);
    expect(Object.keys(withPostgres.services).sort()).toEqual(['agent', 'postgres', 'server']);
    expect(withPostgres.services.server?.environment?.FALCONET_DATABASE_URL).toBe(url);
    expect(withPostgres.services.postgres?.command).toContain('port=5433');
    expect(withPostgres.services.postgres?.environment?.POSTGRES_PASSWORD).toBe('pw');
  });
});
