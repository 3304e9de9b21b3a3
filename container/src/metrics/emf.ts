// CloudWatch Embedded Metric Format (MODEL_SERVER_EMF): the figures /metrics gives, summed per interval
// and written to stdout as JSON lines (one per model that had requests, one for the server), so that an
// endpoint's log gives CloudWatch graphs and autoscaling inputs with no agent. Counts are exact; times and
// batch sizes are a uniform sample of at most 100 requests per model and interval (EMF takes at most 100
// values per metric and line), so CloudWatch's averages and percentiles estimate the interval's.
import type { EmfConfig } from '../config/serving';
import { writeLogLines } from '../logger';
import type { Observation } from './journal';

/** EMF's limit on the values of one metric in one line. */
const MAX_VALUES = 100;

/** A uniform sample of at most MAX_VALUES of the values seen (reservoir sampling). */
class Sample {
  readonly values: number[] = [];
  private seen = 0;

  add(v: number): void {
    this.seen += 1;
    if (this.values.length < MAX_VALUES) this.values.push(v);
    else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < MAX_VALUES) this.values[j] = v;
    }
  }
}

class ModelInterval {
  invocations = 0;
  errors4xx = 0;
  errors5xx = 0;
  readonly latency = new Sample();
  readonly queueWait = new Sample();
  readonly inference = new Sample();
  readonly batch = new Sample();
}

class ServerInterval {
  loads = 0;
  loadFailures = 0;
  unloads = 0;
  restarts = 0;
  readonly loadTime = new Sample();
  readonly unloadTime = new Sample();
}

type Unit = 'Count' | 'Milliseconds' | 'None';

/** One EMF document: its metrics (name, unit, value or values) under the given dimensions. */
function document(namespace: string, timestamp: number, dimensions: Record<string, string>, metrics: [string, Unit, number | number[]][]): string {
  const present = metrics.filter(([, , v]) => !Array.isArray(v) || v.length > 0);
  const doc: Record<string, unknown> = {
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [{ Namespace: namespace, Dimensions: Object.keys(dimensions).length > 0 ? [Object.keys(dimensions), []] : [[]], Metrics: present.map(([Name, Unit]) => ({ Name, Unit })) }],
    },
    ...dimensions,
  };
  for (const [name, , value] of present) doc[name] = value;
  return JSON.stringify(doc);
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

export class EmfWriter {
  private models = new Map<string, ModelInterval>();
  private server = new ServerInterval();
  private loaded = 0;

  constructor(
    private readonly config: EmfConfig,
    /** Requests in flight per model right now (asks the workers). */
    private readonly inFlight: () => Promise<Map<string, number>>,
    private readonly write: (lines: string) => void = writeLogLines,
  ) {}

  /** Writes a line per model and one for the server every interval, from now on. */
  start(): void {
    setInterval(() => void this.flush(), this.config.intervalSeconds * 1000).unref();
  }

  observe(list: readonly Observation[]): void {
    for (const o of list) {
      let m = this.models.get(o.model);
      if (!m) this.models.set(o.model, (m = new ModelInterval()));
      m.invocations += 1;
      if (o.status >= 400 && o.status < 500) m.errors4xx += 1;
      else if (o.status >= 500) m.errors5xx += 1;
      m.latency.add(round(o.ms));
      if (o.batch > 0) {
        m.queueWait.add(round(o.queuedMs));
        m.inference.add(round(o.runMs));
        m.batch.add(o.batch);
      }
    }
  }

  modelLoaded(ok: boolean, seconds: number): void {
    if (!ok) this.server.loadFailures += 1;
    else {
      this.server.loads += 1;
      this.server.loadTime.add(round(seconds * 1000));
    }
  }

  modelUnloaded(seconds: number): void {
    this.server.unloads += 1;
    this.server.unloadTime.add(round(seconds * 1000));
  }

  modelsLoaded(count: number): void {
    this.loaded = count;
  }

  workerRestarted(): void {
    this.server.restarts += 1;
  }

  /** The interval's lines, with the requests in flight as the workers say them now. */
  async flush(): Promise<void> {
    const inFlight = await this.inFlight().catch(() => new Map<string, number>());
    this.writeInterval(Date.now(), inFlight);
  }

  /** The interval's lines: one per model with requests or requests in flight, then the server's (also at shutdown). */
  writeInterval(now: number, inFlight: ReadonlyMap<string, number>): void {
    const models = this.models;
    const server = this.server;
    this.models = new Map();
    this.server = new ServerInterval();
    const { namespace } = this.config;
    const lines: string[] = [];
    for (const name of new Set([...models.keys(), ...[...inFlight].filter(([, n]) => n > 0).map(([m]) => m)])) {
      const m = models.get(name) ?? new ModelInterval();
      lines.push(document(namespace, now, { Model: name }, [
        ['Invocations', 'Count', m.invocations],
        ['Invocation4XXErrors', 'Count', m.errors4xx],
        ['Invocation5XXErrors', 'Count', m.errors5xx],
        ['ModelLatency', 'Milliseconds', m.latency.values],
        ['QueueWait', 'Milliseconds', m.queueWait.values],
        ['InferenceTime', 'Milliseconds', m.inference.values],
        ['BatchSize', 'Count', m.batch.values],
        ['RequestsInFlight', 'Count', inFlight.get(name) ?? 0],
      ]));
    }
    lines.push(document(namespace, now, {}, [
      ['LoadedModels', 'Count', this.loaded],
      ['ModelLoads', 'Count', server.loads],
      ['ModelLoadFailures', 'Count', server.loadFailures],
      ['ModelUnloads', 'Count', server.unloads],
      ['ModelLoadTime', 'Milliseconds', server.loadTime.values],
      ['ModelUnloadTime', 'Milliseconds', server.unloadTime.values],
      ['WorkerRestarts', 'Count', server.restarts],
    ]));
    this.write(`${lines.join('\n')}\n`);
  }
}
