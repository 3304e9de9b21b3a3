// The CloudWatch lines, written without a server: one line per model with requests and one for the
// server per interval, exact counts, a uniform sample of at most 100 values, and a fresh interval after each.
import { EmfWriter } from '../../container/src/metrics/emf';
import type { Observation } from '../../container/src/metrics/journal';

const obs = (model: string, status: number, ms: number): Observation => ({ model, route: 'invocations', status, ms, queuedMs: 0.5, runMs: 1, batch: 2 });

function writer() {
  const lines: string[] = [];
  const emf = new EmfWriter({ namespace: 'NS', intervalSeconds: 60 }, async () => new Map([['b', 3]]), (text) => lines.push(...text.trimEnd().split('\n')));
  return { emf, lines: () => lines.map((l) => JSON.parse(l)) };
}

test('one line per model (with requests or in flight) and one for the server; counts exact, values sampled to at most 100', async () => {
  const { emf, lines } = writer();
  const many = Array.from({ length: 1000 }, (_, i) => obs('a', i < 990 ? 200 : i < 995 ? 404 : 503, i));
  emf.observe(many);
  emf.modelLoaded(true, 1.5);
  emf.modelLoaded(false, 0.1);
  emf.modelUnloaded(0.25);
  emf.modelsLoaded(2);
  emf.workerRestarted();
  await emf.flush();
  const [a, b, server] = lines();
  expect(a).toMatchObject({ Model: 'a', Invocations: 1000, Invocation4XXErrors: 5, Invocation5XXErrors: 5, RequestsInFlight: 0 });
  expect(a.ModelLatency).toHaveLength(100);
  for (const v of a.ModelLatency) expect(v).toBeGreaterThanOrEqual(0);
  // A uniform sample: its mean is near the population's (499.5), far from the first hundred's (49.5).
  const mean = a.ModelLatency.reduce((x: number, y: number) => x + y, 0) / 100;
  expect(mean).toBeGreaterThan(300);
  expect(mean).toBeLessThan(700);
  expect(a.BatchSize).toEqual(new Array(100).fill(2));
  expect(a._aws.CloudWatchMetrics).toEqual([{ Namespace: 'NS', Dimensions: [['Model'], []], Metrics: expect.arrayContaining([{ Name: 'Invocations', Unit: 'Count' }, { Name: 'ModelLatency', Unit: 'Milliseconds' }]) }]);
  // In flight but without requests this interval: a line, with no empty arrays in it.
  expect(b).toMatchObject({ Model: 'b', Invocations: 0, RequestsInFlight: 3 });
  expect(b.ModelLatency).toBeUndefined();
  expect(b._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name)).not.toContain('ModelLatency');
  expect(server).toMatchObject({ LoadedModels: 2, ModelLoads: 1, ModelLoadFailures: 1, ModelUnloads: 1, ModelLoadTime: [1500], ModelUnloadTime: [250], WorkerRestarts: 1 });
  expect(server._aws.CloudWatchMetrics[0].Dimensions).toEqual([[]]);
  // The next interval starts from zero.
  await emf.flush();
  expect(lines().slice(3).map((l) => [l.Model, l.Invocations, l.ModelLoads])).toEqual([['b', 0, undefined], [undefined, undefined, 0]]);
});
