// deploy/kserve/ says what KServe needs to run this image, and what serve understands: protocol v2 set
// explicitly, the runtime named, the model folder KServe fills given to serve, the probes on the Open
// Inference Protocol's health paths, a numeric non-root user, and resources. (The image check starts the
// container from the same files.)
import { loadConfig } from '../../container/src/config/serving';
import { MODEL_MOUNT, podContainer, readManifests } from '../../tools/src/kserve-manifests';

const manifests = readManifests();
const pod = podContainer(manifests);
const container = manifests.runtime.spec.containers[0] as unknown as Record<string, any>;

test('the InferenceService sets protocol v2 (its default is v1), names this runtime and a model format it supports, and a storageUri', () => {
  const { model } = manifests.service.spec.predictor;
  expect(model.protocolVersion).toBe('v2');
  expect(model.runtime).toBe(manifests.runtime.metadata.name);
  expect(manifests.runtime.spec.supportedModelFormats.map((f) => f.name)).toContain(model.modelFormat.name);
  expect(manifests.runtime.spec.protocolVersions).toEqual(['v2']);
  expect(model.storageUri).toMatch(/^[a-z0-9]+:\/\//);
});

test("serve reads the runtime's arguments as the model's name and KServe's model folder, on the container's port", () => {
  expect(pod.command).toEqual(['serve']);
  const config = loadConfig(pod.env, pod.args);
  expect(config).toMatchObject({ modelName: manifests.service.metadata.name, modelDir: MODEL_MOUNT, port: pod.port });
});

test('probes on the health paths of the container port; a numeric non-root user; requests and limits', () => {
  expect([pod.livenessPath, pod.readinessPath]).toEqual(['/v2/health/live', '/v2/health/ready']);
  expect([container.livenessProbe.httpGet.port, container.readinessProbe.httpGet.port]).toEqual([pod.port, pod.port]);
  expect(Number.isInteger(pod.user) && pod.user > 0).toBe(true);
  expect(container.securityContext.runAsNonRoot).toBe(true);
  for (const kind of ['requests', 'limits']) expect(Object.keys(container.resources[kind]).sort()).toEqual(['cpu', 'memory']);
  // MODEL_SERVER_WORKERS matches the CPU limit, as the sizing guide says.
  expect(pod.env.MODEL_SERVER_WORKERS).toBe(String(container.resources.limits.cpu));
});
