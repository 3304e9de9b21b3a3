// The Open Inference Protocol (KServe's V2 protocol) at the edge: what its metadata routes answer, its
// error shape ({"error": "<message>"}), and how POST /v2/models/{name}/infer becomes the same typed
// Invocation as any other body (a V2 tensor request, with the binary tensor extension's header length when
// the caller sent one), so that every model kind answers there through its own pipeline.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/serving';
import { v2Type } from '../codecs/v2';
import { BINARY_HEADER_PARAM } from '../codecs/v2-binary';
import { ServerError, type WireError } from '../errors';
import { covers } from '../models/media';
import type { Invocation } from '../models/model';
import type { ModelDescription, TensorInfo } from '../vocabulary';
import { customAttributes } from './invocation';
import { sendErrorBody } from './respond';

/** Every model has one version; a path may name it (/v2/models/{name}/versions/1/...) or leave it out. */
export const MODEL_VERSION = '1';

/** The server's name and version (package.json, two levels above the compiled http/), and the extensions it speaks. */
const SERVER = (() => {
  const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as { name: string; version: string };
  return { name: pkg.name, version: pkg.version, extensions: ['binary_tensor_data'] };
})();

export const serverMetadata = () => SERVER;

/** A tensor as model metadata lists it: V2 datatype, -1 for every dimension that is not fixed. */
function tensorMetadata(t: TensorInfo): { name: string; datatype: string; shape: number[] } {
  // onnxruntime reports an input of unknown rank as shape [] like a scalar: its one dimension of any size is -1.
  const shape = t.shape.length === 0 && !t.scalar ? [-1] : t.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  return { name: t.name, datatype: v2Type(t.type), shape };
}

export function modelMetadata(description: ModelDescription, name: string): Record<string, unknown> {
  return {
    name,
    versions: [MODEL_VERSION],
    platform: description.platform,
    inputs: description.inputs.map(tensorMetadata),
    outputs: description.outputs.map(tensorMetadata),
  };
}

/** A version other than the one each model has: 404, saying which there is. */
export function checkVersion(name: string, version: string | undefined): void {
  if (version !== undefined && version !== MODEL_VERSION) {
    throw new ServerError('MODEL_NOT_LOADED', `model "${name}" has no version "${version}": each model here has one version, "${MODEL_VERSION}" (or leave /versions/<version> out of the path)`);
  }
}

/** An error in the specification's shape; the log line still gets the catalogue's code. */
export function sendOipError(res: ServerResponse, error: WireError, headers?: Record<string, string>): void {
  sendErrorBody(res, error, { error: error.message }, headers);
}

/**
 * POST /v2/models/{name}/infer as an Invocation: the body is a V2 tensor request (JSON, or with the binary
 * tensor extension when Inference-Header-Content-Length is given) whatever its Content-Type says, and the
 * answer a V2 response naming the model as `answerAs`.
 */
export function resolveInferInvocation(req: IncomingMessage, id: string, model: ModelDescription, config: Config, answerAs: { modelName: string; version?: string }): Omit<Invocation, 'input'> & { input: { mediaType: string; params: Record<string, string> } } {
  const headerLength = req.headers['inference-header-content-length'];
  const hooks = model.code?.hooks ?? [];
  if (!covers(model.consumes, 'application/json')) {
    throw new ServerError('UNSUPPORTED_MEDIA_TYPE', `model "${answerAs.modelName}" reads ${model.consumes.join(', ')} (its inference code says so), and the Open Inference Protocol sends JSON; send its own types to POST /invocations`);
  }
  if (typeof headerLength === 'string' && (hooks.includes('inputFn') || hooks.includes('transformFn'))) {
    throw new ServerError('UNSUPPORTED_MEDIA_TYPE', `model "${answerAs.modelName}" reads request bodies with its own inputFn or transformFn, which take JSON here: send the tensors as JSON "data", without Inference-Header-Content-Length`);
  }
  if (!covers(model.produces, 'application/json')) {
    throw new ServerError('NOT_ACCEPTABLE', `model "${answerAs.modelName}" writes ${model.produces.join(', ')} (its inference code says so), and the Open Inference Protocol answers JSON; call POST /invocations instead`);
  }
  return {
    requestId: id,
    model: model.name,
    input: { mediaType: 'application/json', params: typeof headerLength === 'string' ? { [BINARY_HEADER_PARAM]: headerLength } : {} },
    output: { mediaType: 'application/json', keys: config.inferenceOutput, protocol: answerAs },
    tensorsAcceptable: true,
    ...customAttributes(req),
  };
}
