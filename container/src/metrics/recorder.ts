// The worker side of the metrics: each answered inference request goes into the worker's journal
// (journal.ts) with one write before the answer is written, so the primary, which keeps every total, can
// count every answer a caller received, even from a worker SIGKILLed a moment later. The worker also keeps
// prom-client's process metrics and its requests in flight, which the primary asks for at each scrape.
import type { ServerResponse } from 'node:http';
import { collectDefaultMetrics, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { AnswerTiming } from '../models/model';
import { METRICS } from './catalogue';
import type { JournalWriter } from './journal';

/** A worker's process metrics and in-flight gauge, as prom-client's getMetricsAsJSON gives them. */
export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

interface Begun {
  model: string;
  route: string;
}

export class RequestMetrics {
  private readonly registry = new Registry();
  private readonly inFlight: Gauge<'model'>;
  /** Requests in flight per model (plain counts on the hot path; the gauge is set from them at a snapshot). */
  private readonly counts = new Map<string, number>();
  private readonly begun = new WeakMap<ServerResponse, Begun>();

  constructor(private readonly journal: JournalWriter) {
    collectDefaultMetrics({ register: this.registry });
    const { name, help, labels } = METRICS.inFlight;
    this.inFlight = new Gauge({ name, help, labelNames: labels, registers: [this.registry] });
  }

  /** An inference request for `model` starts (route: the route table's name). */
  begin(res: ServerResponse, model: string, route: string): void {
    this.counts.set(model, (this.counts.get(model) ?? 0) + 1);
    this.begun.set(res, { model, route });
  }

  /** Its answer is about to be written: call before writing it (a no-op for a response that did not begin as an inference request). */
  answered(res: ServerResponse, status: number, started: number, timing?: AnswerTiming): void {
    const begun = this.begun.get(res);
    if (!begun) return;
    this.begun.delete(res);
    this.counts.set(begun.model, this.counts.get(begun.model)! - 1);
    this.journal.write(begun.model, begun.route, status, performance.now() - started, timing ? timing.queuedMs : -1, timing ? timing.runMs : -1, timing ? timing.batch : 0);
  }

  /** The process metrics and requests in flight, for the primary's scrape. */
  snapshot(): Promise<MetricsSnapshot> {
    for (const [model, n] of this.counts) this.inFlight.labels(model).set(n);
    return this.registry.getMetricsAsJSON() as Promise<MetricsSnapshot>;
  }
}
