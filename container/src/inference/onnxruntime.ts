// The calls into onnxruntime every part of the program shares: creating a session, and turning what
// onnxruntime throws into the error catalogue (a caller's input it refused is a 400 naming the node; the
// model's own failure a 500). `train` imports this alone to check a brought model.
import * as ort from 'onnxruntime-node';
import { ServerError } from '../errors';

// onnxruntime writes its own log (coloured text) to stdout; every failure it has also comes back as an
// exception, which the server logs as JSON. Below fatal it says nothing, so the output stays JSON lines.
ort.env.logLevel = 'fatal';
/** Run and session options that keep onnxruntime's own log quiet (see above). */
export const QUIET = { logSeverityLevel: 4 } as const;

/** onnxruntime's message without its source paths and C++ signatures (internal detail, not the caller's business). */
export function cleanOrtMessage(message: string): string {
  return message
    .split('\n')[0]
    .replace(/\/onnxruntime_src\/\S+:\d+ (?:[^()]*\([^)]*\)\s*)?/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Every output must be a tensor: onnxruntime-node cannot return sequences or maps. One message for
 * `serve` and for `train`'s bring-your-own-model check; `where` names the file.
 */
export function checkTensorOutputs(session: ort.InferenceSession, where: string): void {
  const nonTensor = session.outputMetadata.filter((m) => !m.isTensor).map((m) => m.name);
  if (nonTensor.length > 0) {
    throw new ServerError('MODEL_UNSUPPORTED_OUTPUT', `${where} output ${nonTensor.map((n) => `"${n}"`).join(', ')} is a sequence or map (e.g. a ZipMap of class probabilities), which onnxruntime-node cannot return. Re-export without it: skl2onnx convert_sklearn(..., options={id(model): {"zipmap": False}}), or onnxmltools with zipmap=False; probabilities then come as a [N, classes] tensor`);
  }
}

/**
 * How onnxruntime reports a failing node (after cleanOrtMessage). A node that runs a subgraph (If, Loop,
 * Scan) reports the failure inside it as its own reason, in the same words, one level per subgraph.
 */
const NODE_FAILURE = /^Non-zero status code returned while running (\S+) node\. Name:'([^']*)' Status Message: (.*)$/;

/**
 * Reasons onnxruntime gives when the values fed in do not fit what the graph does with them: shapes that
 * do not broadcast, reshape or match, an invalid argument, an index or value out of range, an operator's
 * input of the wrong shape or rank (an LSTM's initial state whose batch is not the input's). The model
 * loaded and warmed, so these come from this input; anything else is the model's or the server's fault.
 */
const INPUT_REFUSED = /invalid (\w+ )?(rank|dimensions?|shape|argument|input|indices|index|value)|unexpected input data type|input .* not found|broadcast|reshape|mismatch|must match|do(es)? not match|must have (shape|\d+ dimensions?)|incompatible|out of (range|bounds)|out of data bounds|must be within|not in range|exceeds/i;

/**
 * The reason without onnxruntime's internals: its failed check ("x == y was false."), the source file and
 * function it names ("matmul_helper.h:59 Compute"), and its advice to fix the model.
 */
function readableReason(reason: string): string {
  return reason
    .replace(/^.*? was false\.\s+(?=\S)/, '')
    .replace(/^[\w.]+\.(?:h|cc|cpp):\d+ \w+ /, '')
    .replace(/\s*Please fix either the inputs\/outputs or the model\.?/, '')
    .trim();
}

interface FailedNode {
  op: string;
  name: string;
}

/** The nodes a failure went through, outermost first (the innermost is where it happened), and its own reason. */
function failurePath(reason: string): { nodes: FailedNode[]; reason: string } {
  const nodes: FailedNode[] = [];
  let rest = reason;
  for (let m = NODE_FAILURE.exec(rest); m; m = NODE_FAILURE.exec(rest)) {
    nodes.push({ op: m[1], name: m[2] });
    rest = m[3];
  }
  return { nodes, reason: rest };
}

const nodeName = (node: FailedNode) => `${node.op} node${node.name ? ` "${node.name}"` : ''}`;

/** The node where it failed, and the subgraph nodes around it: `LSTM node "l" (in If node "If_0", If node "If_1")`. */
function describeNodes(nodes: readonly FailedNode[]): string {
  const inner = nodes[nodes.length - 1];
  const outer = nodes.slice(0, -1);
  return `${nodeName(inner)}${outer.length > 0 ? ` (in ${outer.map(nodeName).join(', ')})` : ''}`;
}

/**
 * Input errors onnxruntime reports are the caller's (400, naming the node); everything else is the model's
 * (500). A failure inside a subgraph is judged by its innermost reason, and named by the node that gave it.
 */
export function runError(err: unknown, what: string): ServerError {
  // Some reasons go on over several lines ("for the following indices\n index: 1 Got: 3 Expected: 2").
  const message = cleanOrtMessage(String((err as Error)?.message ?? err).replace(/\s*\n\s*(?=\S)/g, ' '));
  const { nodes, reason } = failurePath(message);
  const detail = readableReason(reason);
  if (INPUT_REFUSED.test(detail)) {
    return new ServerError('INVALID_TENSOR', `the input does not fit the model: onnxruntime${nodes.length > 0 ? `'s ${describeNodes(nodes)}` : ''} refused it: ${detail}`);
  }
  return new ServerError('MODEL_ERROR', `onnxruntime failed on ${what}: ${nodes.length > 0 ? `${describeNodes(nodes)}: ${detail}` : reason}`);
}

/** A session of `modelFile` as the server runs it: one inter-op thread, sequential, fully optimised. */
export async function createSession(modelFile: string | Uint8Array, intraOpThreads: number): Promise<ort.InferenceSession> {
  try {
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      ...QUIET,
    };
    return await (typeof modelFile === 'string' ? ort.InferenceSession.create(modelFile, options) : ort.InferenceSession.create(modelFile, options));
  } catch (err) {
    const reason = cleanOrtMessage(String((err as Error).message ?? err));
    if (typeof modelFile !== 'string') throw new ServerError('MODEL_INVALID', `onnxruntime cannot load the tree ensemble converted from the model: ${reason}`);
    throw new ServerError('MODEL_INVALID', `onnxruntime cannot load ${modelFile}: ${reason}. Check that the file is a complete ONNX model (not truncated, not a Git LFS pointer) exported with an opset onnxruntime 1.30 supports`);
  }
}


/** A plain {type, dims, data} object, as users' code may give a tensor. */
export function isTensorLike(value: unknown): value is { type: string; dims: readonly number[]; data: unknown } {
  return typeof value === 'object' && value !== null && 'dims' in value && 'data' in value && 'type' in value;
}

/** An ort.Tensor from one, or from an ort.Tensor; INVALID_TENSOR naming `name` when it is neither. */
export function toOrtTensor(name: string, value: unknown): ort.Tensor {
  if (value instanceof ort.Tensor) return value;
  if (!isTensorLike(value)) throw new ServerError('INVALID_TENSOR', `input "${name}" is not a tensor: give an ort.Tensor (context.ort.Tensor) or {type, dims, data}`);
  try {
    return new ort.Tensor(value.type as 'float32', value.data as Float32Array, value.dims);
  } catch (err) {
    throw new ServerError('INVALID_TENSOR', `input "${name}" is not a tensor onnxruntime takes: ${(err as Error).message}`);
  }
}
