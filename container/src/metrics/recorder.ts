// The worker side of the metrics: each answered inference request goes to the primary as one small IPC
// message, sent before the answer itself is written, so that the primary (which keeps every total) has
// counted every answer a caller can have received, even from a worker SIGKILLed a moment later. (Sending
// the answers of one event-loop turn together cost less, but lost the last ones of a worker killed under
// load: one in 551 in the SIGKILL test.) The worker also keeps prom-client's process metrics and its
// requests in flight, which the primary asks for at each scrape.
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
  inFlight: ReturnType<Gauge<'model'>['labels']>;
}

export class RequestMetrics {
  private readonly registry = new Registry();
  private readonly inFlight: Gauge<'model'>;
  private readonly gauges = new Map<string, ReturnType<Gauge<'model'>['labels']>>();
  private readonly begun = new WeakMap<ServerResponse, Begun>();

  /** `send` carries a batch of observations to the primary (flat, OBSERVATION_FIELDS per request). */
  constructor(private readonly send: (observations: (string | number)[]) => void) {
    collectDefaultMetrics({ register: this.registry });
    const { name, help, labels } = METRICS.inFlight;
    this.inFlight = new Gauge({ name, help, labelNames: labels, registers: [this.registry] });
  }

  /** An inference request for `model` starts (route: the route table's name). */
  begin(res: ServerResponse, model: string, route: string): void {
    let gauge = this.gauges.get(model);
    if (!gauge) this.gauges.set(model, (gauge = this.inFlight.labels(model)));
    gauge.inc();
    this.begun.set(res, { model, route, inFlight: gauge });
  }

  /** Its answer is about to be written: call before writing it (a no-op for a response that did not begin as an inference request). */
  answered(res: ServerResponse, status: number, started: number, timing?: AnswerTiming): void {
    const begun = this.begun.get(res);
    if (!begun) return;
    this.begun.delete(res);
    begun.inFlight.dec();
    this.send([begun.model, begun.route, status, performance.now() - started, timing ? timing.queuedMs : -1, timing ? timing.runMs : -1, timing ? timing.batch : 0]);
  }

  /** The process metrics and requests in flight, for the primary's scrape. */
  snapshot(): Promise<MetricsSnapshot> {
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
