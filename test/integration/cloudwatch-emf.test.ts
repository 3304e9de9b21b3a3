// MODEL_SERVER_EMF on the real stack: the log carries CloudWatch Embedded Metric Format lines, one per model
// and interval (never one per request), whose counts add up exactly to the requests sent, in documents
// that follow the format's specification; they are written whatever LOG_LEVEL says.
import { exampleBase } from '../helpers/models';
import { csv, request, requireNginx, sleep, startServer, type LogLine } from '../helpers/server';

const ROW = '5.1,3.5,1.4,0.2';

type Emf = LogLine & { _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] } };

/** Checks a document against the EMF specification: every metric a root number or array of at most 100 numbers, every dimension a root string. */
function checkEmf(doc: Emf): void {
  expect(Number.isInteger(doc._aws.Timestamp)).toBe(true);
  for (const directive of doc._aws.CloudWatchMetrics) {
    expect(directive.Metrics.length).toBeLessThanOrEqual(100);
    for (const set of directive.Dimensions) for (const d of set) expect(typeof doc[d]).toBe('string');
    for (const { Name, Unit } of directive.Metrics) {
      const v = doc[Name];
      if (Array.isArray(v)) {
        expect(v.length).toBeGreaterThan(0);
        expect(v.length).toBeLessThanOrEqual(100);
        for (const x of v) expect(typeof x).toBe('number');
      } else expect(typeof v).toBe('number');
      expect(['Count', 'Milliseconds']).toContain(Unit);
    }
  }
}

beforeAll(() => requireNginx());

test('counts per model and interval add up to the requests sent; at most 100 sampled times per line; written at LOG_LEVEL=warn too', async () => {
  const server = await startServer({ baseDir: exampleBase(), env: { MODEL_SERVER_EMF: 'true', MODEL_SERVER_EMF_INTERVAL: '1', MODEL_SERVER_EMF_NAMESPACE: 'Test/ModelServer', MODEL_SERVER_MODEL_NAME: 'iris', LOG_LEVEL: 'warn' } });
  try {
    const sent = 150;
    for (let i = 0; i < sent; i++) expect((await csv(server.port, ROW)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await csv(server.port, 'x,y')).status).toBe(400);
    // Lines come once a second: wait for the ones that hold every request.
    const emf = () => server.logs.filter((l): l is Emf => '_aws' in l);
    const modelLines = () => emf().filter((l) => l.Model === 'iris');
    const invocations = () => modelLines().reduce((n, l) => n + (l.Invocations as number), 0);
    for (let i = 0; i < 100 && invocations() < sent + 5; i++) await sleep(100);
    await sleep(1200);
    expect(invocations()).toBe(sent + 5);
    expect(modelLines().reduce((n, l) => n + (l.Invocation4XXErrors as number), 0)).toBe(5);
    expect(modelLines().reduce((n, l) => n + (l.Invocation5XXErrors as number), 0)).toBe(0);
    // Per interval, not per request: a handful of lines for 155 requests.
    expect(modelLines().length).toBeLessThan(20);
    for (const line of emf()) checkEmf(line);
    const busiest = modelLines().reduce((a, b) => ((a.Invocations as number) >= (b.Invocations as number) ? a : b));
    expect((busiest.ModelLatency as number[]).length).toBe(Math.min(100, busiest.Invocations as number));
    expect(busiest._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Test/ModelServer', Dimensions: [['Model'], []] });
    expect(busiest._aws.CloudWatchMetrics[0].Metrics.map((m) => m.Name)).toEqual(expect.arrayContaining(['Invocations', 'Invocation4XXErrors', 'Invocation5XXErrors', 'ModelLatency', 'QueueWait', 'InferenceTime', 'BatchSize', 'RequestsInFlight']));
    // The latest server line (one written while the model was still loading says LoadedModels 0).
    const serverLine = emf().filter((l) => l.Model === undefined).pop()!;
    expect(serverLine).toMatchObject({ LoadedModels: 1, WorkerRestarts: 0 });
    // Nothing else reached the log at warn: the request lines are info.
    expect(server.logs.filter((l) => !('_aws' in l) && l.level === 'info')).toEqual([]);
    // /metrics is there too (MODEL_SERVER_METRICS defaults on), with the same count.
    expect((await request(server.port, 'GET', '/metrics')).body).toMatch(/model_server_requests_total\{model="iris",route="invocations",status="200"\} 150\n/);
  } finally {
    await server.stop();
  }
});
