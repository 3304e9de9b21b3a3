// The multi-model API's seam: what the edge asks of the server's table of models (load, list, unload),
// answered by the primary, which owns the table.
import type { WireError } from '../errors';

/** One loaded model, in SageMaker's shape. */
export interface LoadedModel {
  modelName: string;
  modelUrl: string;
}

export type ControlRequest = { op: 'load'; name: string; url: string } | { op: 'list' } | { op: 'unload'; name: string };

export type ControlReply = { ok: true; models?: LoadedModel[] } | { ok: false; error: WireError };

export interface ModelControl {
  request(request: ControlRequest): Promise<ControlReply>;
}
