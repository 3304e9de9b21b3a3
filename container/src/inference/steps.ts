// The typed values that pass between a model's steps inside an inference thread (input -> predict ->
// output), and the shape of a step. Each value says what it is, so no step has to guess what the one
// before it returned; a user's hook and its built-in default give and take the same values.
import type { Answer, Invocation } from '../models/model';
import type { HookName, Matrix, Predictions, TensorData } from '../vocabulary';
import type { RequestContext } from './context';

/** A KServe V2 request's id and the outputs it asked for: its answer carries them. */
export interface TensorRequest {
  id?: string;
  outputs?: string[];
  /** Outputs to answer as binary data (the Open Inference Protocol's binary tensor extension). */
  binaryOutputs?: string[];
}

export type StepValue =
  /** Rows for a tabular model: decoded by a codec, or given by inputFn. */
  | { kind: 'rows'; matrix: Matrix }
  /** Named tensors for the session: a KServe V2 request (`request` set), or tensors inputFn gave. */
  | { kind: 'tensors'; tensors: TensorData[]; request?: TensorRequest }
  /** A tabular model's answer to rows. */
  | { kind: 'predictions'; predictions: Predictions }
  /** What the session returned for named tensors. */
  | { kind: 'outputs'; tensors: TensorData[]; request?: TensorRequest }
  /** Whatever a user's hook returned, with the hook's name (errors about the value name it). */
  | { kind: 'value'; value: unknown; hook: HookName };

/** One request as the steps see it; `context` is there for models with code (what their hooks get). */
export interface StepRequest {
  invocation: Invocation;
  context?: RequestContext;
}

/** A model's three steps, each a user's hook or the built-in one. */
export interface Steps {
  input(request: StepRequest): Promise<StepValue>;
  predict(value: StepValue, request: StepRequest): Promise<StepValue>;
  output(value: StepValue, request: StepRequest): Promise<Answer>;
}

/** What a user's hook threw, with the hook's name: answered as the status it chose, or a 500 naming it. */
export class HookError {
  constructor(
    readonly hook: HookName,
    readonly cause: unknown,
  ) {}
}
