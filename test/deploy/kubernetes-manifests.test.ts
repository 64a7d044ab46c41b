import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';

/*
 * The manifests under deploy/kubernetes/: each document checked against the Kubernetes API schema (the
 * kubernetes-models package: types, required fields, enums), then what the README promises of them.
 */
const DIR = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));

const MODELS: Record<string, { new (data: never): { validate(): void } }> = {
  'v1/Pod': Pod as never,
  'v1/Secret': Secret as never,
  'apps/v1/DaemonSet': DaemonSet as never,
};

interface Manifest {
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly body: Record<string, unknown>;
}

async function manifests(): Promise<Manifest[]> {
  const found: Manifest[] = [];
  for (const file of (await readdir(DIR)).filter((name) => name.endsWith('.yaml')).sort()) {
    // YAML 1.1, as kubectl reads it: there `defaultMode: 0400` is octal (YAML 1.2 would read 400).
    for (const document of parseAllDocuments(await readFile(join(DIR, file), 'utf8'), { version: '1.1' })) {
      expect(document.errors, file).toEqual([]);
      const body = document.toJS() as Record<string, unknown>;
      found.push({ file, apiVersion: String(body.apiVersion), kind: String(body.kind), body });
    }
  }
  return found;
}

function podSpecOf(manifest: Manifest): IPodSpec | undefined {
  if (manifest.kind === 'Pod') return manifest.body.spec as IPodSpec;
  if (manifest.kind === 'DaemonSet') return (manifest.body.spec as { template: { spec: IPodSpec } }).template.spec;
  return undefined;
}

/** The value of `--name=value` or `--name value` in a container's args. */
function flagValue(args: readonly string[], name: string): string | undefined {
  const index = args.findIndex((arg) => arg === name || arg.startsWith(`${name}=`));
  if (index < 0) return undefined;
  const arg = args[index] as string;
  return arg.includes('=') ? arg.slice(name.length + 1) : args[index + 1];
}

describe('Kubernetes manifests', () => {
  it('are valid against the Kubernetes API schema', async () => {
    const all = await manifests();
    expect(all.map((manifest) => `${manifest.file}:${manifest.kind}`)).toEqual([
      'daemonset.yaml:DaemonSet',
      'daemonset.yaml:Pod',
      'secret.yaml:Secret',
      'training-pod.yaml:Pod',
    ]);
    for (const manifest of all) {
      const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
      expect(Model, `${manifest.file}: ${manifest.apiVersion} ${manifest.kind}`).toBeDefined();
      expect(() => new (Model as NonNullable<typeof Model>)(manifest.body as never).validate(), manifest.file).not.toThrow();
    }
  });

  it('catch a schema error (the check is not a no-op)', () => {
    const broken = { metadata: { name: 'x' }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 'metrics' }] }] } };
    expect(() => new Pod(broken as never).validate()).toThrow(/containerPort/);
  });

  it('mount with Bidirectional propagation, probe /healthz, unmount in preStop and read the whole Secret volume', async () => {
    const mounters: { file: string; container: IContainer; spec: IPodSpec }[] = [];
    for (const manifest of await manifests()) {
      const spec = podSpecOf(manifest);
      for (const container of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
        if (spec !== undefined && container.args?.[0] === 'mount') mounters.push({ file: manifest.file, container, spec });
      }
    }
    expect(mounters.map((mounter) => mounter.file).sort()).toEqual(['daemonset.yaml', 'training-pod.yaml']);
    for (const { file, container, spec } of mounters) {
      const args = container.args ?? [];
      const mountpoint = args[2] as string;
      expect(args, file).toContain('--foreground');
      expect(container.securityContext?.privileged, file).toBe(true);
      const mountVolume = container.volumeMounts?.find((mount) => mountpoint.startsWith(mount.mountPath));
      expect(mountVolume?.mountPropagation, file).toBe('Bidirectional');

      const port = container.ports?.find((candidate) => candidate.name === 'metrics');
      expect(String(port?.containerPort), file).toBe(flagValue(args, '--metrics-port'));
      expect(flagValue(args, '--metrics-host'), file).toBe('0.0.0.0');
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        expect(probe?.httpGet, file).toEqual({ path: '/healthz', port: 'metrics' });
      }
      expect(container.lifecycle?.preStop?.exec?.command, file).toEqual(['bucketfs', 'unmount', '--lazy', mountpoint]);

      const tokenFile = flagValue(args, '--token-file') ?? '';
      const tokenMount = container.volumeMounts?.find((mount) => tokenFile.startsWith(`${mount.mountPath}/`));
      expect(tokenMount?.subPath, file).toBeUndefined();
      expect(spec.volumes?.find((volume) => volume.name === tokenMount?.name)?.secret?.defaultMode, file).toBe(0o400);
    }
  });

  it('show the trainer the mount with HostToContainer propagation', async () => {
    for (const manifest of await manifests()) {
      const spec = podSpecOf(manifest);
      const trainer = spec?.containers.find((container) => container.name === 'trainer');
      if (trainer === undefined) continue;
      expect(trainer.volumeMounts?.map((mount) => mount.mountPropagation), manifest.file).toEqual(['HostToContainer']);
    }
  });
});
