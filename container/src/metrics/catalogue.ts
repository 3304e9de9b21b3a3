// Every metric the server exposes beyond prom-client's process metrics: name, type, help, labels and
// buckets, declared once. The primary registers them (collector.ts), the workers the one they keep
// (recorder.ts), and docs/metrics.md lists them all (a unit test checks the two agree).

/** Request latencies, queue waits and run times, in seconds: from half a millisecond to the 60 s default timeout. */
const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export const METRICS = {
  requests: {
    name: 'model_server_requests_total',
    type: 'counter',
    help: 'Inference requests answered by the workers, by model, route and HTTP status.',
    labels: ['model', 'route', 'status'],
  },
  duration: {
    name: 'model_server_request_duration_seconds',
    type: 'histogram',
    help: 'Time from a request reaching a worker to its answer being written, by model and route.',
    labels: ['model', 'route'],
    buckets: SECONDS,
  },
  queueWait: {
    name: 'model_server_queue_wait_seconds',
    type: 'histogram',
    help: "Time an invocation waited for one of its model's inference threads.",
    labels: ['model'],
    buckets: SECONDS,
  },
  inference: {
    name: 'model_server_inference_duration_seconds',
    type: 'histogram',
    help: 'Time the inference thread spent on the run that answered an invocation (decode, model, encode).',
    labels: ['model'],
    buckets: SECONDS,
  },
  batchSize: {
    name: 'model_server_batch_size',
    type: 'histogram',
    help: 'Invocations in the thread run that answered an invocation (1: it ran alone), observed once per invocation.',
    labels: ['model'],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
  },
  inFlight: {
    name: 'model_server_requests_in_flight',
    type: 'gauge',
    help: 'Inference requests a worker has taken and not yet answered, by model.',
    labels: ['model'],
  },
  loads: {
    name: 'model_server_model_loads_total',
    type: 'counter',
    help: 'Model loads asked for with POST /models (multi-model endpoints), by result (success or failure).',
    labels: ['result'],
  },
  loadDuration: {
    name: 'model_server_model_load_duration_seconds',
    type: 'histogram',
    help: 'Time from POST /models to the model being ready on every worker that holds it (successful loads).',
    labels: [],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  },
  unloads: {
    name: 'model_server_model_unloads_total',
    type: 'counter',
    help: 'Models unloaded with DELETE /models/<name> (multi-model endpoints).',
    labels: [],
  },
  unloadDuration: {
    name: 'model_server_model_unload_duration_seconds',
    type: 'histogram',
    help: 'Time from DELETE /models/<name> to every holder having released the model.',
    labels: [],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  },
  loaded: {
    name: 'model_server_models_loaded',
    type: 'gauge',
    help: 'Models the server holds (the single model once it is ready; on a multi-model endpoint, the loaded ones).',
    labels: [],
  },
  restarts: {
    name: 'model_server_worker_restarts_total',
    type: 'counter',
    help: 'Worker processes that died and were replaced.',
    labels: [],
  },
} as const;
