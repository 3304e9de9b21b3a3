// deploy/kserve/ read the way KServe reads it: the ServingRuntime's container (command, arguments with
// {{.Name}} filled in, environment, user, port, probes) for a given InferenceService, plus what KServe and
// Knative add themselves (the model folder /mnt/models, Knative's PORT and K_* variables). The image check
// starts the container from this, so the manifests and what is tested cannot drift apart.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';

export const KSERVE_DIR = path.resolve(__dirname, '../../deploy/kserve');

/** Where KServe's storage initializer leaves the storageUri's files, read-only for the server. */
export const MODEL_MOUNT = '/mnt/models';

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value: string }[];
  ports?: { containerPort: number }[];
  securityContext?: { runAsUser?: number; runAsGroup?: number; runAsNonRoot?: boolean };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: { httpGet?: { path: string; port: number } };
  readinessProbe?: { httpGet?: { path: string; port: number } };
}

export interface Manifests {
  runtime: { kind: string; metadata: { name: string }; spec: { protocolVersions?: string[]; supportedModelFormats: { name: string }[]; containers: Container[] } };
  service: { kind: string; metadata: { name: string }; spec: { predictor: { model: { modelFormat: { name: string }; runtime?: string; protocolVersion?: string; storageUri?: string } } } };
}

export function readManifests(dir = KSERVE_DIR): Manifests {
  const read = (file: string) => parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  return { runtime: read('servingruntime.yaml'), service: read('inferenceservice.yaml') };
}

/** The container as the pod runs it for the InferenceService: what `podman run` needs to do the same. */
export interface PodContainer {
  user: number;
  group: number;
  command: string[];
  args: string[];
  env: Record<string, string>;
  port: number;
  livenessPath: string;
  readinessPath: string;
  modelName: string;
}

export function podContainer(m: Manifests): PodContainer {
  const c = m.runtime.spec.containers.find((x) => x.name === 'kserve-container') ?? m.runtime.spec.containers[0];
  const name = m.service.metadata.name;
  const port = c.ports?.[0]?.containerPort ?? 8080;
  // Knative (KServe's default, serverless mode) tells the container its port and revision.
  const knative = { PORT: String(port), K_SERVICE: `${name}-predictor`, K_CONFIGURATION: `${name}-predictor`, K_REVISION: `${name}-predictor-00001` };
  return {
    user: c.securityContext?.runAsUser ?? 0,
    group: c.securityContext?.runAsGroup ?? c.securityContext?.runAsUser ?? 0,
    command: c.command ?? [],
    args: (c.args ?? []).map((a) => a.replace(/\{\{\.Name\}\}/g, name)),
    env: { ...knative, ...Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value])) },
    port,
    livenessPath: c.livenessProbe?.httpGet?.path ?? '',
    readinessPath: c.readinessProbe?.httpGet?.path ?? '',
    modelName: name,
  };
}
