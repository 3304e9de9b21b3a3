// The contract every codec module implements; codecs are pure (text or bytes in, text out) so they run in threads.
import type { InferenceOutputKey, Matrix, OutputStyle, Predictions, TabularSchema, TensorData, TensorInfo } from '../vocabulary';

/** What a request body holds: rows for a tabular model, or a parsed KServe V2 tensor request. */
export type Decoded =
  | { kind: 'rows'; matrix: Matrix }
  /** A V2 tensor request; `binary` is the binary tensor extension's data after its JSON, when it has some. */
  | { kind: 'tensors'; doc: unknown; binary?: Uint8Array };

export interface DecodeContext {
  /** null when the model is not tabular (only V2 tensor requests fit it). */
  schema: TabularSchema | null;
  /** Why a model whose inputs look like columns still takes no rows (said in the 415 answer). */
  rowsRefused?: string;
  /** Media-type parameters of the request, lower-case names (charset, header, ...). */
  params: Readonly<Record<string, string>>;
  /** The model's inputs, for formats that carry unnamed tensors (application/x-npy's one array). */
  inputs?: readonly TensorInfo[];
}

export interface EncodeContext {
  keys: readonly InferenceOutputKey[];
  /** SageMaker XGBoost's style for tree models that carry their native output; the server's own otherwise. */
  style?: OutputStyle;
  /** SAGEMAKER_INFERENCE_OUTPUT was set: SageMaker XGBoost's style then writes the keys, else the raw output. */
  selected?: boolean;
}

/** The wrapper of a framed encoding: encode(p) is open + encodeRecords(p) + close; chunks join with separator. */
export interface Frame {
  readonly open: string;
  readonly separator: string;
  readonly close: string;
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
  /**
   * Set when encode wraps its records (JSON's {"predictions":[...]}): encode(p) is then
   * open + encodeRecords(p) + close, and a large answer is written in chunks joined by separator.
   * Without it, the encodings of consecutive row ranges simply concatenate (CSV, JSON Lines).
   */
  frame?(ctx: EncodeContext): Frame | undefined;
  encodeRecords?(predictions: Predictions, ctx: EncodeContext): string;
  /** Optional fast path to UTF-8 bytes; undefined means "use encode", whose text it must equal. */
  encodeBytes?(predictions: Predictions, ctx: EncodeContext): Uint8Array | undefined;
  /** A binary format's whole answer (it has no encode, and its answers are never cut into chunks). */
  encodeBinary?(predictions: Predictions, ctx: EncodeContext): Uint8Array;
  /** A tensor model's outputs in this format (a format that holds tensors: application/x-npy). */
  encodeTensors?(tensors: readonly TensorData[]): Uint8Array;
}
