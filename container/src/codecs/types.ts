// The contract every codec module implements; codecs are pure (text or bytes in, text out) so they run in threads.
import type { InferenceOutputKey } from '../config';
import type { Predictions } from '../inference/predictions';

/** What a decoder needs to know about a tabular model's single [N, F] input. */
export interface TabularSchema {
  /** Columns per row, when the model fixes it. */
  features: number | null;
  featureNames?: readonly string[];
  /** float32 inputs cannot hold values beyond ±3.4e38. */
  inputType?: 'float32' | 'float64';
}

/** Decoded rows, row-major, already in the model input's precision (float32 models get a Float32Array). */
export interface Matrix {
  rows: number;
  width: number;
  values: Float32Array | Float64Array;
}

/** What a request body holds: rows for a tabular model, or a parsed KServe V2 tensor request. */
export type Decoded = { kind: 'rows'; matrix: Matrix } | { kind: 'tensors'; doc: unknown };

export interface DecodeContext {
  /** null when the model is not tabular (only V2 tensor requests fit it). */
  schema: TabularSchema | null;
  /** Media-type parameters of the request, lower-case names (charset, header, ...). */
  params: Readonly<Record<string, string>>;
}

export interface EncodeContext {
  keys: readonly InferenceOutputKey[];
}

export interface Codec {
  /** Canonical media type, lower-case. */
  readonly mediaType: string;
  readonly aliases?: readonly string[];
  /** Request side; absent when the type is only produced. */
  decode?(text: string, ctx: DecodeContext): Decoded;
  /**
   * Optional fast path from the body's bytes; undefined means "use decode on the text", which must then
   * give the same answer or error.
   */
  decodeBytes?(bytes: Uint8Array, ctx: DecodeContext): Decoded | undefined;
  /** Response side; absent when the type is only read. */
  encode?(predictions: Predictions, ctx: EncodeContext): string;
  /** Optional fast path to UTF-8 bytes; undefined means "use encode", whose text it must equal. */
  encodeBytes?(predictions: Predictions, ctx: EncodeContext): Uint8Array | undefined;
}
