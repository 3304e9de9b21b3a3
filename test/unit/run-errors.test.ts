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
