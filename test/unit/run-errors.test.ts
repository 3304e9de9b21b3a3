import { runError } from '../../container/src/inference/onnxruntime';

// onnxruntime-node 1.30's own messages, as its session.run rejects with them.
const node = (op: string, name: string, message: string) => new Error(`Non-zero status code returned while running ${op} node. Name:'${name}' Status Message: ${message}`);

describe('onnxruntime run failures', () => {
  test.each([
    [node('Add', 'add_1', '/onnxruntime_src/onnxruntime/core/providers/cpu/math/element_wise_ops.h:563 void onnxruntime::BroadcastIterator::Init(ptrdiff_t, ptrdiff_t) axis == 1 || axis == largest was false. Attempting to broadcast an axis by a dimension other than 1. 2 by 3\n'),
      'the input does not fit the model: onnxruntime\'s Add node "add_1" refused it: Attempting to broadcast an axis by a dimension other than 1. 2 by 3'],
    [node('Reshape', 'r', '/onnxruntime_src/onnxruntime/core/providers/cpu/tensor/reshape_helper.h:91 onnxruntime::ReshapeHelper::ReshapeHelper(const onnxruntime::TensorShape&, onnxruntime::TensorShapeVector&, bool) input_shape_size == requested_shape_size was false. The input tensor cannot be reshaped to the requested shape. Input shape:{3}, requested shape:{2,2}\n'),
      'the input does not fit the model: onnxruntime\'s Reshape node "r" refused it: The input tensor cannot be reshaped to the requested shape. Input shape:{3}, requested shape:{2,2}'],
    [node('Gather', 'g', 'indices element out of data bounds, idx=5 must be within the inclusive range [-3,2]'),
      'the input does not fit the model: onnxruntime\'s Gather node "g" refused it: indices element out of data bounds, idx=5 must be within the inclusive range [-3,2]'],
    [node('MatMul', 'm', 'matmul_helper.h:59 Compute MatMul dimension mismatch'), 'the input does not fit the model: onnxruntime\'s MatMul node "m" refused it: MatMul dimension mismatch'],
    [node('Concat', '', 'concatbase.h:133 PrepareForComputeImpl Non concat axis dimensions must match: Axis 1 has mismatched dimensions of 3 and 2'),
      'the input does not fit the model: onnxruntime\'s Concat node refused it: Non concat axis dimensions must match: Axis 1 has mismatched dimensions of 3 and 2'],
    [node('Expand', 'e', 'invalid expand shape'), 'the input does not fit the model: onnxruntime\'s Expand node "e" refused it: invalid expand shape'],
    [new Error('Got invalid dimensions for input: a for the following indices\n index: 1 Got: 3 Expected: 2\n Please fix either the inputs/outputs or the model.'),
      'the input does not fit the model: onnxruntime refused it: Got invalid dimensions for input: a for the following indices index: 1 Got: 3 Expected: 2'],
  ])('%#: what the input caused is a 400 INVALID_TENSOR naming the node, without internals', (err, message) => {
    const e = runError(err, 'the given tensors');
    expect([e.code, e.status, e.message]).toEqual(['INVALID_TENSOR', 400, message]);
  });

  test.each([
    [node('Range', 'range_8', 'delta in Range operator can not be zero!'), 'onnxruntime failed on 2 row(s): Range node "range_8": delta in Range operator can not be zero!'],
    [node('Cast', 'c', 'stod'), 'onnxruntime failed on 2 row(s): Cast node "c": stod'],
  ])('%#: a failure of the model itself is a 500 MODEL_ERROR', (err, message) => {
    const e = runError(err, '2 row(s)');
    expect([e.code, e.status, e.message]).toEqual(['MODEL_ERROR', 500, message]);
  });
});

describe('onnxruntime run failures inside subgraphs (If, Loop, Scan)', () => {
  // onnxruntime-node 1.30's messages for a speech model (Silero VAD v5: input [batch, samples], state
  // [2, batch, 128], sr) given a caller's mistakes: its graph is an If on the sample rate, with another If
  // around the LSTM decoder in each branch.
  const silero = (inner: string, branch = 'then') => node('If', 'If_0', node('If', `If_0_${branch}_branch__Inline_0__/decoder/If_1`, node('LSTM', `If_0_${branch}_branch__Inline_0__/decoder/rnn/LSTM`, inner).message).message);
  const inLstm = (branch: string) => `(in If node "If_0", If node "If_0_${branch}_branch__Inline_0__/decoder/If_1")`;

  test.each([
    ['a batch of 2 inputs with a state for 1', silero('Input initial_h must have shape {1,2,128}. Actual:{1,1,128}'),
      `the input does not fit the model: onnxruntime's LSTM node "If_0_then_branch__Inline_0__/decoder/rnn/LSTM" ${inLstm('then')} refused it: Input initial_h must have shape {1,2,128}. Actual:{1,1,128}`],
    ['1000 samples where the model takes 512 (at 16 kHz)', silero('Input X must have 3 dimensions only. Actual:{1,1,1,128,2}'),
      `the input does not fit the model: onnxruntime's LSTM node "If_0_then_branch__Inline_0__/decoder/rnn/LSTM" ${inLstm('then')} refused it: Input X must have 3 dimensions only. Actual:{1,1,1,128,2}`],
    ['a sample rate of 44100 (or 0, or -1)', silero('Input X must have 3 dimensions only. Actual:{1,1,1,128,2}', 'else'),
      `the input does not fit the model: onnxruntime's LSTM node "If_0_else_branch__Inline_0__/decoder/rnn/LSTM" ${inLstm('else')} refused it: Input X must have 3 dimensions only. Actual:{1,1,1,128,2}`],
    ['100 samples, shorter than its STFT window', node('If', 'If_0', node('Conv', 'If_0_then_branch__Inline_0__/stft/Conv', 'Invalid input shape: {164}').message),
      'the input does not fit the model: onnxruntime\'s Conv node "If_0_then_branch__Inline_0__/stft/Conv" (in If node "If_0") refused it: Invalid input shape: {164}'],
    ['a reshape inside a Loop body', node('Loop', 'loop', node('Reshape', 'r', '/onnxruntime_src/onnxruntime/core/providers/cpu/tensor/reshape_helper.h:84 onnxruntime::ReshapeHelper::ReshapeHelper(const onnxruntime::TensorShape&, onnxruntime::TensorShapeVector&, bool) size != 0 && (input_shape_size % size) == 0 was false. The input tensor cannot be reshaped to the requested shape. Input shape:{6}, requested shape:{-1,4}\n').message),
      'the input does not fit the model: onnxruntime\'s Reshape node "r" (in Loop node "loop") refused it: The input tensor cannot be reshaped to the requested shape. Input shape:{6}, requested shape:{-1,4}'],
    ['a state that does not broadcast in a Scan body', node('Scan', 'scan', node('Add', '', '/onnxruntime_src/onnxruntime/core/providers/cpu/math/element_wise_ops.h:563 void onnxruntime::BroadcastIterator::Init(ptrdiff_t, ptrdiff_t) axis == 1 || axis == largest was false. Attempting to broadcast an axis by a dimension other than 1. 3 by 4\n').message),
      'the input does not fit the model: onnxruntime\'s Add node (in Scan node "scan") refused it: Attempting to broadcast an axis by a dimension other than 1. 3 by 4'],
  ])('%s: a 400 INVALID_TENSOR naming the innermost node and its reason', (_what, err, message) => {
    const e = runError(err, 'the given tensors');
    expect([e.code, e.status, e.message]).toEqual(['INVALID_TENSOR', 400, message]);
  });

  test('a failure of the model itself inside a subgraph stays a 500 MODEL_ERROR, named by its innermost node', () => {
    const e = runError(node('If', 'If_0', node('Loop', 'spin', node('Range', 'range_8', 'delta in Range operator can not be zero!').message).message), 'the given tensors');
    expect([e.code, e.status, e.message]).toEqual(['MODEL_ERROR', 500, 'onnxruntime failed on the given tensors: Range node "range_8" (in If node "If_0", Loop node "spin"): delta in Range operator can not be zero!']);
  });
});
