// The worker side of the metrics. The answers of one turn of the event loop go to the primary (which keeps
// every total) in one IPC message, and are written to nginx only after it (at the end of the same turn),
// so the primary has counted every answer a caller can have received, even from a worker SIGKILLed a
// moment later. (A message per answer, before it, kept that order too but cost about 20 µs of CPU per
// request under load, mostly the primary waking for each; writing the answers first lost the last ones of
// a killed worker, one in 551 in the SIGKILL test; corking their sockets does not hold them, as Node's
// res.end() uncorks its socket fully.)
// The worker also keeps prom-client's process metrics and its requests in flight, which the primary asks
// for at each scrape.
import type { ServerResponse } from 'node:http';
import { collectDefaultMetrics, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { AnswerTiming } from '../models/model';
import { METRICS } from './catalogue';

/** Fields per observation in an observations message: model, route, status, ms, queued ms, run ms, batch. */
export const OBSERVATION_FIELDS = 7;

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
  private pending: (string | number)[] = [];
  private writes: (() => void)[] = [];
  private scheduled = false;

  /** `send` carries a batch of observations to the primary (flat, OBSERVATION_FIELDS per request). */
  constructor(private readonly send: (observations: (string | number)[]) => void) {
    collectDefaultMetrics({ register: this.registry });
    const { name, help, labels } = METRICS.inFlight;
    this.inFlight = new Gauge({ name, help, labelNames: labels, registers: [this.registry] });
  }

  /** An inference request for `model` starts (route: the route table's name). */
  begin(res: ServerResponse, model: string, route: string): void {
    this.counts.set(model, (this.counts.get(model) ?? 0) + 1);
    this.begun.set(res, { model, route });
  }

  /**
   * An answer: `write` writes it, at once for a response that did not begin as an inference request, else
   * once the primary has been told (at the end of this turn of the event loop).
   */
  answered(res: ServerResponse, status: number, started: number, timing: AnswerTiming | undefined, write: () => void): void {
    const begun = this.begun.get(res);
    if (!begun) return write();
    this.begun.delete(res);
    this.counts.set(begun.model, this.counts.get(begun.model)! - 1);
    this.pending.push(begun.model, begun.route, status, performance.now() - started, timing ? timing.queuedMs : -1, timing ? timing.runMs : -1, timing ? timing.batch : 0);
    this.writes.push(write);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** The turn's observations to the primary, then its answers to nginx. */
  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    const writes = this.writes;
    this.pending = [];
    this.writes = [];
    try {
      this.send(batch);
    } finally {
      // Each write is sendError or send: they catch nothing, and one failing must not keep the others.
      for (const write of writes) {
        try {
          write();
        } catch {
          // the socket is gone; its request was logged already
        }
      }
    }
  }

  /** The process metrics and requests in flight, for the primary's scrape. */
  snapshot(): Promise<MetricsSnapshot> {
    for (const [model, n] of this.counts) this.inFlight.labels(model).set(n);
    return this.registry.getMetricsAsJSON() as Promise<MetricsSnapshot>;
  }
}

/** One answered inference request, as the workers report it (times in milliseconds; -1 and 0 when it never reached a thread). */
export interface Observation {
  model: string;
  route: string;
  status: number;
  ms: number;
  queuedMs: number;
  runMs: number;
  batch: number;
}

/** Reads the flat rows of an observations message. */
export function observations(rows: readonly (string | number)[]): Observation[] {
  const out: Observation[] = [];
  for (let i = 0; i + OBSERVATION_FIELDS <= rows.length; i += OBSERVATION_FIELDS) {
    out.push({ model: String(rows[i]), route: String(rows[i + 1]), status: Number(rows[i + 2]), ms: Number(rows[i + 3]), queuedMs: Number(rows[i + 4]), runMs: Number(rows[i + 5]), batch: Number(rows[i + 6]) });
  }
  return out;
}
