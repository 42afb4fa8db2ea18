import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@falconet/protocol/config';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { agentConfigSchema } from '../src/config.ts';

interface Mount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
interface DaemonSet {
  kind: string;
  spec: {
    template: {
      spec: {
        hostPID?: boolean;
        containers: { env: { name: string; value?: string }[]; volumeMounts: Mount[] }[];
        volumes: { name: string; hostPath?: { path: string } }[];
      };
    };
  };
}

const file = join(import.meta.dirname, '../../../deploy/k8s/falconet-agent.yaml');
const docs = parseAllDocuments(readFileSync(file, 'utf8'));
const ds = docs.map((d) => d.toJS() as DaemonSet).find((d) => d.kind === 'DaemonSet') as DaemonSet;

describe('deploy/k8s DaemonSet', () => {
  it('is valid YAML with one DaemonSet', () => {
    expect(docs.flatMap((d) => d.errors)).toEqual([]);
    expect(ds).toBeDefined();
  });

  it('mounts everything it reads from the host read-only; only its own state is writable', () => {
    const spec = ds.spec.template.spec;
    const agent = spec.containers[0];
    const hostPaths = new Map(spec.volumes.map((v) => [v.name, v.hostPath?.path]));
    for (const m of agent?.volumeMounts ?? []) {
      // Not the host's: the in-memory /tmp the read-only image needs.
      if (hostPaths.get(m.name) === undefined && m.mountPath === '/tmp') continue;
      if (m.name === 'state') expect(hostPaths.get(m.name)).toBe('/var/lib/falconet-agent');
      else expect(m.readOnly, `${m.name} at ${m.mountPath}`).toBe(true);
    }
    expect(hostPaths.get('proc')).toBe('/proc');
    expect(hostPaths.get('sys')).toBe('/sys');
    expect(hostPaths.get('root')).toBe('/');
  });

  it("sets only real config keys, with the collector's roots and the Docker socket inside the mounts", () => {
    const env = Object.fromEntries(
      (ds.spec.template.spec.containers[0]?.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]),
    );
    const { config, ignoredEnv } = loadConfig(agentConfigSchema, { env });
    expect(ignoredEnv).toEqual([]);
    expect(config.procfs).toEqual({ proc: '/host/proc', sys: '/host/sys', rootfs: '/host/root' });
    expect(config.containers.docker_socket).toMatch(/^\/host\/root\//);
  });
});
