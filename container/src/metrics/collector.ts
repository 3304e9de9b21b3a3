// The primary side of the metrics: it keeps every total. The workers' observations (their journals,
// journal.ts) land in prom-client metrics held here, so no count is lost when a worker dies; the model table and the
// supervisor report loads, unloads and restarts. Process metrics (prom-client's defaults, with the
// requests in flight) come from each worker at a scrape and are summed with prom-client's cluster
// aggregation (AggregatorRegistry.aggregate); a dead worker's counters stay in the sums at their last
// value, so no counter ever goes down.
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { METRICS } from './catalogue';
import type { EmfWriter } from './emf';
import { JournalReader, type Observation } from './journal';
import type { MetricsSnapshot } from './recorder';

const counter = (spec: { name: string; help: string; labels: readonly string[] }, registry: Registry) => new Counter({ name: spec.name, help: spec.help, labelNames: spec.labels, registers: [registry] });
const histogram = (spec: { name: string; help: string; labels: readonly string[]; buckets: readonly number[] }, registry: Registry) =>
  new Histogram({ name: spec.name, help: spec.help, labelNames: spec.labels, buckets: [...spec.buckets], registers: [registry] });

/** A worker's snapshot without what must not outlive it: its gauges (memory, handles, requests in flight). */
const monotonic = (snapshot: MetricsSnapshot): MetricsSnapshot => snapshot.filter((m) => ['counter', 'histogram'].includes(m.type as unknown as string)); // (prom-client's types say an enum; its JSON holds the names)

type Child<T> = T extends { labels(...a: never[]): infer C } ? C : never;

export class MetricsCollector {
  private readonly registry = new Registry();
  /** The primary's own process metrics. */
  private readonly own = new Registry();
  private readonly requests = counter(METRICS.requests, this.registry);
  private readonly duration = histogram(METRICS.duration, this.registry);
  private readonly queueWait = histogram(METRICS.queueWait, this.registry);
  private readonly inference = histogram(METRICS.inference, this.registry);
  private readonly batchSize = histogram(METRICS.batchSize, this.registry);
  private readonly loads = counter(METRICS.loads, this.registry);
  private readonly loadDuration = histogram(METRICS.loadDuration, this.registry);
  private readonly unloads = counter(METRICS.unloads, this.registry);
  private readonly unloadDuration = histogram(METRICS.unloadDuration, this.registry);
  private readonly loaded = new Gauge({ name: METRICS.loaded.name, help: METRICS.loaded.help, registers: [this.registry] });
  private readonly restarts = counter(METRICS.restarts, this.registry);
  /** Label lookups cost more than the increments: one set of children per model (and route, status). */
  private readonly children = new Map<string, { requests: Child<Counter<string>>; duration: Child<Histogram<string>>; queueWait: Child<Histogram<string>>; inference: Child<Histogram<string>>; batch: Child<Histogram<string>> }>();
  /** Each live worker's latest snapshot, by slot. */
  private readonly live = new Map<number, MetricsSnapshot>();
  /** The monotonic part of dead workers' last snapshots (summed into one now and then). */
  private retired: MetricsSnapshot[] = [];
  /** The last value written of every counter and histogram sample of the summed process metrics. */
  private readonly highest = new Map<string, number>();

  /** MODEL_SERVER_EMF: the same figures, per interval, as CloudWatch lines. */
  private emf: EmfWriter | undefined;

  private readonly journals: JournalReader;
  private readonly timer: NodeJS.Timeout;
  /** The live workers' process ids: their journals are still written (set by the primary). */
  private livePids: () => Set<number> = () => new Set();

  /** `runDir`: where the workers' journals are (MODEL_SERVER_RUN_DIR). */
  constructor(runDir: string) {
    this.journals = new JournalReader(runDir);
    this.journals.clear();
    // Read the journals now and then, so that their files stay small and the CloudWatch lines current.
    this.timer = setInterval(() => this.drain(), 1000).unref();
    collectDefaultMetrics({ register: this.own });
    // Present from the start, so a scrape shows every series a dashboard will plot (zero until it moves).
    this.restarts.inc(0);
    this.unloads.inc(0);
    this.loaded.set(0);
  }

  /** Stops reading the journals now and then (the server keeps one collector for its life; tools stop theirs). */
  close(): void {
    clearInterval(this.timer);
  }

  /** Who is alive, for the journals: a dead worker's files are read to their end and deleted. */
  watch(livePids: () => Set<number>): void {
    this.livePids = livePids;
  }

  /** Counts what the workers' journals say happened since the last read. */
  drain(): void {
    const live = this.livePids();
    const list = this.journals.read((pid) => live.has(pid));
    if (list.length > 0) this.observe(list);
  }

  /** Sends every figure to CloudWatch lines as well. */
  alsoTo(emf: EmfWriter): void {
    this.emf = emf;
  }

  /** Requests in flight per model, as the workers last said. */
  inFlight(): Map<string, number> {
    const out = new Map<string, number>();
    for (const snapshot of this.live.values()) {
      for (const v of snapshot.find((m) => m.name === METRICS.inFlight.name)?.values ?? []) {
        const model = String(v.labels.model);
        out.set(model, (out.get(model) ?? 0) + v.value);
      }
    }
    return out;
  }

  /** Inference requests a worker answered. */
  observe(list: readonly Observation[]): void {
    this.emf?.observe(list);
    for (const o of list) {
      const key = `${o.model}\u0000${o.route}\u0000${o.status}`;
      let c = this.children.get(key);
      if (!c) {
        c = {
          requests: this.requests.labels(o.model, o.route, String(o.status)),
          duration: this.duration.labels(o.model, o.route),
          queueWait: this.queueWait.labels(o.model),
          inference: this.inference.labels(o.model),
          batch: this.batchSize.labels(o.model),
        };
        this.children.set(key, c);
      }
      c.requests.inc();
      c.duration.observe(o.ms / 1000);
      if (o.batch > 0) {
        c.queueWait.observe(o.queuedMs / 1000);
        c.inference.observe(o.runMs / 1000);
        c.batch.observe(o.batch);
      }
    }
  }

  modelLoaded(ok: boolean, seconds: number): void {
    this.emf?.modelLoaded(ok, seconds);
    this.loads.labels(ok ? 'success' : 'failure').inc();
    if (ok) this.loadDuration.observe(seconds);
  }

  modelUnloaded(seconds: number): void {
    this.emf?.modelUnloaded(seconds);
    this.unloads.inc();
    this.unloadDuration.observe(seconds);
  }

  modelsLoaded(count: number): void {
    this.emf?.modelsLoaded(count);
    this.loaded.set(count);
  }

  workerSnapshot(slot: number, snapshot: MetricsSnapshot): void {
    this.live.set(slot, snapshot);
  }

  /** A worker died: its journal is read to its end, its counters stay in the sums at their last value, and it is counted as a restart when replaced. */
  workerExited(slot: number, replaced: boolean): void {
    this.drain();
    const last = this.live.get(slot);
    this.live.delete(slot);
    if (last) this.retired.push(monotonic(last));
    if (replaced) {
      this.restarts.inc();
      this.emf?.workerRestarted();
    }
  }

  /** The Prometheus text: process metrics summed over the primary and the workers, then the server's own. */
  async render(): Promise<string> {
    this.drain();
    if (this.retired.length > 1) this.retired = [(await AggregatorRegistry.aggregate(this.retired as never).getMetricsAsJSON()) as MetricsSnapshot];
    const processes = [(await this.own.getMetricsAsJSON()) as MetricsSnapshot, ...this.live.values(), ...this.retired];
    const summed = (await AggregatorRegistry.aggregate(processes as never).getMetricsAsJSON()) as MetricsSnapshot;
    // Floating-point sums taken in another order (a dead worker's part moving to the retired sum) may come
    // out one ulp lower, which Prometheus would read as a counter reset: never write less than before.
    for (const metric of monotonic(summed)) {
      for (const v of metric.values) {
        const key = `${(v as { metricName?: string }).metricName ?? metric.name}${JSON.stringify(v.labels)}`;
        const last = this.highest.get(key);
        if (last !== undefined && v.value < last) v.value = last;
        else this.highest.set(key, v.value);
      }
    }
    return `${await AggregatorRegistry.aggregate([summed] as never).metrics()}\n${await this.registry.metrics()}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
