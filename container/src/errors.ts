// The error catalogue: every error the server can report, with its stable code, HTTP status and meaning.
// Errors cross thread and process boundaries as plain WireError objects (structured clone drops Error classes).

export interface CatalogueEntry {
  readonly status: number;
  /** One sentence for the error table in docs/errors.md. */
  readonly meaning: string;
}

export const CATALOGUE = {
  // Request problems (400)
  EMPTY_PAYLOAD: { status: 400, meaning: 'The request body is empty or holds no records.' },
  BODY_TOO_LONG: { status: 400, meaning: 'The body is longer than its Content-Length header says.' },
  BODY_INCOMPLETE: { status: 400, meaning: 'The body ended before the length its Content-Length header gives; the message gives both.' },
  CLIENT_GONE: { status: 400, meaning: 'The caller closed the connection before its request was read or run; nobody receives this answer, but the log line says so.' },
  INVALID_ENCODING: { status: 400, meaning: 'The body is not valid UTF-8; the message gives the byte offset.' },
  MALFORMED_CSV: { status: 400, meaning: 'The CSV cannot be parsed (e.g. an unterminated quote); the message gives the line.' },
  MALFORMED_JSON: { status: 400, meaning: 'The JSON cannot be parsed or has an unexpected structure; the message gives line and column, or the path.' },
  INVALID_VALUE: { status: 400, meaning: "A value does not fit its column (not a number, not an integer for an integer column, missing where the column cannot take a missing value, beyond the input type's range); the message gives line/record, column/field and, for a typed column, its name and type." },
  WRONG_FEATURE_COUNT: { status: 400, meaning: 'A record has a different number of values than the model has features; the message gives the record and both counts.' },
  UNKNOWN_FEATURE: { status: 400, meaning: 'A header or object key names a feature the model does not have; the message lists the expected names.' },
  INVALID_TENSOR: { status: 400, meaning: 'An input does not fit the model: a KServe V2 input is unknown, missing, or of the wrong datatype, rank, dimension, scalar-ness or value count, or onnxruntime refused the input while running (shapes that do not broadcast or reshape, an invalid argument, an index or value out of range, an operator input of the wrong shape or rank), inside an If, Loop or Scan subgraph too; the message names the input, or the node and the subgraph nodes around it.' },
  INVALID_PARAMETER: { status: 400, meaning: 'A header or query parameter has a value the server cannot use; the message names it.' },
  // Routing and negotiation
  NOT_FOUND: { status: 404, meaning: 'No such endpoint.' },
  METHOD_NOT_ALLOWED: { status: 405, meaning: 'The endpoint exists but not for this HTTP method; the Allow header lists the methods.' },
  URI_TOO_LONG: { status: 414, meaning: 'The request line is over 8 KiB (answered by nginx).' },
  HEADERS_TOO_LARGE: { status: 431, meaning: 'A header is over 8 KiB, or all of them over 32 KiB (answered by nginx).' },
  NOT_IMPLEMENTED: { status: 501, meaning: 'A Transfer-Encoding other than chunked (answered by nginx).' },
  HTTP_VERSION_NOT_SUPPORTED: { status: 505, meaning: 'An HTTP version other than 1.0 and 1.1 in the request line (answered by nginx).' },
  NOT_ACCEPTABLE: { status: 406, meaning: 'No response type in Accept can be produced; the message lists the supported types.' },
  PAYLOAD_TOO_LARGE: { status: 413, meaning: 'The body exceeds the payload limit; the message gives the limit and SAGEMAKER_MAX_PAYLOAD_IN_MB.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, meaning: 'The Content-Type is not one the server reads; the message lists the supported types.' },
  // Multi-model endpoints (SAGEMAKER_MULTI_MODEL=true)
  MODEL_NOT_LOADED: { status: 404, meaning: 'No model of that name is loaded (POST /models loads one); the message names it.' },
  NO_MODEL_AT_URL: { status: 404, meaning: 'POST /models: the url holds no model (no .onnx file, or several and none is model.onnx, and no XGBoost or LightGBM file at its top); the message says what was found.' },
  MODEL_ALREADY_LOADED: { status: 409, meaning: 'POST /models: a model of that name is loaded or loading; unload it first to replace it.' },
  INSUFFICIENT_MEMORY: { status: 507, meaning: 'POST /models: loading the model would exceed the memory this server may use; the message gives both figures (SageMaker then unloads unused models and retries).' },
  MODEL_UNAVAILABLE: { status: 503, meaning: 'The model is loaded, but the worker holding it is restarting and reloading it; retry after the Retry-After seconds.' },
  // Server side
  INFERENCE_CODE_ERROR: { status: 500, meaning: 'The model\'s own inference code (code/inference.mjs) threw: an error with a numeric statusCode from 400 to 599 gives that status and the error\'s message; any other throw gives 500 naming the hook. The stack is logged once with the request id, never sent.' },
  MODEL_ERROR: { status: 500, meaning: 'onnxruntime failed while running the model for a reason of the model itself, not a shape or value of the input; the message carries its reason.' },
  INTERNAL_ERROR: { status: 500, meaning: 'A bug in the server; the request id in the log has the details.' },
  WORKER_FAILED: { status: 502, meaning: 'The worker holding the request stopped before answering (a crash) after handing it to the model; it was not run again because it may be what stopped the worker. (A request the dead worker had not handed to its model is run by another worker.)' },
  NOT_READY: { status: 503, meaning: 'The model is still loading, the server is draining, or no worker is available; retry later.' },
  OVERLOADED: { status: 503, meaning: 'The inference queue is full (MODEL_SERVER_MAX_QUEUE); retry later.' },
  TIMEOUT: { status: 504, meaning: 'The invocation ran longer than MODEL_SERVER_TIMEOUT seconds.' },
  // Proxy mode (MODEL_SERVER_UPSTREAM): the scoring server behind nginx
  UPSTREAM_CONNECTION_FAILED: { status: 502, meaning: 'Proxy mode: the scorer at MODEL_SERVER_UPSTREAM refused the connection, or closed or reset it before answering; the message names the scorer and says which (answered by nginx; never retried, as the scorer may have run it).' },
  UPSTREAM_REDIRECT: { status: 502, meaning: 'Proxy mode: the scorer answered with a redirect, which SageMaker does not follow; the message gives its status and Location (point MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH at where it redirects).' },
  UPSTREAM_UNHEALTHY: { status: 503, meaning: "Proxy mode, GET /ping: the scorer's health path did not answer 2xx within 500 ms (still starting, down, or unhealthy); the message says what it answered." },
  // Start-up (reported in the log; the process exits non-zero)
  CONFIG_INVALID: { status: 500, meaning: 'An environment variable has a value the server cannot use; the message names it.' },
  MODEL_NOT_FOUND: { status: 500, meaning: 'No model under the model directory: no .onnx file, and no XGBoost or LightGBM model file at its top.' },
  MODEL_AMBIGUOUS: { status: 500, meaning: 'Several .onnx files and none is model.onnx (keep one or name it model.onnx); or several model files where one LightGBM file is (keep that one).' },
  MODEL_INVALID: { status: 500, meaning: 'onnxruntime cannot load the file (corrupt, truncated, Git LFS pointer, unsupported opset), an XGBoost or LightGBM file cannot be served (a pickle, a linear booster, linear trees, an objective the server does not predict, a truncated file; the message names the file and what to do), or model.json is invalid.' },
  INFERENCE_CODE_INVALID: { status: 500, meaning: 'The model\'s inference code cannot be used: the module named by SAGEMAKER_PROGRAM is missing, does not load (a syntax error, a missing dependency, a throw at import), exports hooks that are not functions or combines transformFn with inputFn/predictFn/outputFn, or its modelFn or warmupFn threw; the message names the file and the hook. A POST /models of such a model is refused with it.' },
  MODEL_UNSUPPORTED_OUTPUT: { status: 500, meaning: 'An output is a sequence or map (e.g. ZipMap), which onnxruntime-node cannot return; the message says how to re-export.' },
  NGINX_MISSING: { status: 500, meaning: 'nginx is not installed; the message says how to install it.' },
  NGINX_FAILED: { status: 500, meaning: 'nginx refused the rendered configuration or exited; its own message is logged too.' },
  UPSTREAM_FAILED: { status: 500, meaning: 'Proxy mode: the scorer started by MODEL_SERVER_UPSTREAM_COMMAND could not start or exited (the message gives its exit code or signal; serve stops so the platform replaces the instance), or its port is taken, or no port of SAGEMAKER_SAFE_PORT_RANGE is free.' },
  // Training (reported in output/failure and the log; exit non-zero). Never sent over HTTP: the status is
  // there only because every entry has one.
  TRAINING_CONFIG_INVALID: { status: 500, meaning: 'hyperparameters.json, inputdataconfig.json, a hyperparameter or an environment variable train reads has a value training cannot use; the message names it.' },
  TRAINING_DATA_MISSING: { status: 500, meaning: 'There is no training channel, it holds no files, or a Pipe-mode channel has no FIFO; the message gives the path.' },
  TRAINING_DATA_INVALID: { status: 500, meaning: 'A data file cannot be read or trained on (malformed CSV, a cell that is not a number, a wrong column count, no rows, an unusable label); the message gives the file or channel, line or row, and column.' },
  TRAINING_FAILED: { status: 500, meaning: 'Fitting gave no usable model (the fit diverged to non-finite weights, or the exported ONNX graph disagrees with the trained model); nothing was written.' },
  TRAINING_MODEL_INVALID: { status: 500, meaning: 'The model brought in the training channel cannot be served (onnxruntime cannot load it, an output is a sequence or map, its model.json is invalid, or there are several .onnx files); the message names the file.' },
  TRAINING_STOPPED: { status: 500, meaning: 'SIGTERM stopped training before it finished; exit code 143, nothing was written.' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof CATALOGUE;

/** WORKER_FAILED's message, as nginx says it (nginx.conf) and as a worker says it when it refuses a retry. */
export const WORKER_FAILED_MESSAGE = 'the worker handling the request stopped before answering; it was not retried because it may have run. The log has the reason';

/** What crosses thread and process boundaries, and what callers receive under "error". */
export interface WireError {
  code: ErrorCode;
  message: string;
  /** A status other than the catalogue's: only INFERENCE_CODE_ERROR, which takes the status users' code gave. */
  status?: number;
}

export class ServerError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'ServerError';
    this.code = code;
  }
  get status(): number {
    return CATALOGUE[this.code].status;
  }
  toWire(): WireError {
    return { code: this.code, message: this.message };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(CATALOGUE, value);
}

export function statusOf(code: ErrorCode): number {
  return CATALOGUE[code].status;
}

/** The status an error is answered with: its own when users' code gave one, else the catalogue's. */
export function statusOfError(error: WireError): number {
  return error.status ?? CATALOGUE[error.code].status;
}

/**
 * Turns anything thrown into a WireError. Unknown throwables become INTERNAL_ERROR with a generic message,
 * so a stack trace or an internal detail never reaches a caller; the original is returned for logging.
 */
export function toWireError(err: unknown): WireError {
  if (err instanceof ServerError) return err.toWire();
  if (typeof err === 'object' && err !== null) {
    const { code, message } = err as { code?: unknown; message?: unknown };
    if (isErrorCode(code) && typeof message === 'string') {
      const { status } = err as { status?: unknown };
      return typeof status === 'number' ? { code, message, status } : { code, message };
    }
  }
  return { code: 'INTERNAL_ERROR', message: 'internal error; see the server log for this request id' };
}

/**
 * Anything thrown as a WireError that keeps its message, for errors crossing a thread or process boundary
 * to a log (a load failure, a worker's fatal error), never to a caller: a catalogue error as it is,
 * anything else as `code` with its own message, after `context` when given.
 */
export function withMessage(err: unknown, code: ErrorCode = 'INTERNAL_ERROR', context?: string): WireError {
  const known = toWireError(err);
  if (known.code !== 'INTERNAL_ERROR' || err instanceof ServerError) return known;
  const message = String((err as Error)?.message ?? err);
  return { code, message: context ? `${context}: ${message}` : message };
}

/** The JSON body every error response carries. */
export function errorBody(wire: WireError): { error: WireError } {
  return { error: { code: wire.code, message: wire.message } };
}
