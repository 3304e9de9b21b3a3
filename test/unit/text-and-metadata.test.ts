import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeText } from '../../container/src/codecs/text';
import { thrown } from '../helpers/errors';
import { GraphBuilder, serializeModel } from '../../container/src/onnx/writer';
import { featuresFromMetadata, readModelMetadata } from '../../container/src/onnx/reader';
import { treeEnsembleModel } from '../../tools/src/tree-model';
import { slowModel } from '../helpers/models';

const fails = thrown;

describe('body text decoding', () => {
  test.each([
    [[0x31, 0x2c, 0xff], 2],
    [[0x31, 0xe2, 0x82], 1],
    [[0x31, 0x32, 0xc0, 0x80], 2],
    [[0xed, 0xa0, 0x80], 0],
  ])('invalid UTF-8 %j names the offset of the first bad byte (%d)', (bytes, offset) => {
    const err = fails(() => decodeText(Uint8Array.from(bytes)));
    expect(err.code).toBe('INVALID_ENCODING');
    expect(err.message).toBe(`the body is not valid utf-8 (first bad byte at offset ${offset})`);
  });

  test('UTF-8 with a BOM, and other charsets by the charset parameter', () => {
    expect(decodeText(Uint8Array.from([0xef, 0xbb, 0xbf, 0x61]))).toBe('a');
    expect(decodeText(Uint8Array.from([0x63, 0x61, 0x66, 0xe9]), 'ISO-8859-1')).toBe('café');
    expect(decodeText(Buffer.from('1,2', 'utf16le'), 'utf-16le')).toBe('1,2');
  });

  test('an unknown charset is 415', () => {
    const err = fails(() => decodeText(Uint8Array.from([0x61]), 'klingon'));
    expect(err.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(err.message).toMatch(/charset=klingon/);
  });
});

describe('ONNX metadata reading', () => {
  test('reads metadata_props without parsing the graph, and feature lists in either form', () => {
    const g = new GraphBuilder('m');
    g.input('x', 'FLOAT', ['N', 2]);
    g.node('Identity', ['x'], {}, { outputs: ['y'] });
    g.output('y', 'FLOAT', ['N', 2]);
    // A large initializer: skipped by length, never read.
    g.constant('big', 'FLOAT', [1 << 20], new Float32Array(1 << 20));
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ms-meta-')), 'm.onnx');
    fs.writeFileSync(file, serializeModel(g, { metadata: { features: '["a", "b"]', note: 'x' } }));
    const meta = readModelMetadata(file);
    expect(meta.producerName).toBe('sagemaker-onnx-serving');
    expect(meta.metadata).toEqual({ features: '["a", "b"]', note: 'x' });
    expect(featuresFromMetadata(meta.metadata)).toEqual(['a', 'b']);
    expect(featuresFromMetadata({ features: 'a, b ,c' })).toEqual(['a', 'b', 'c']);
    expect(featuresFromMetadata({ features: 'a,,b' })).toBeUndefined();
    expect(featuresFromMetadata({})).toBeUndefined();
  });
});

describe('graph inputs', () => {
  test('a tensor type with a shape of no dimensions is a declared scalar; one without a shape is of unknown rank', () => {
    const g = new GraphBuilder('inputs');
    g.input('x', 'FLOAT', ['N', 2]);
    g.input('scale', 'FLOAT', []);
    g.input('anything', 'FLOAT');
    g.input('flag', 'BOOL', []);
    g.node('Identity', ['x'], {}, { outputs: ['y'] });
    g.output('y', 'FLOAT', ['N', 2]);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ms-inputs-')), 'm.onnx');
    fs.writeFileSync(file, serializeModel(g));
    expect(readModelMetadata(file).scalarInputs).toEqual(['scale', 'flag']);
  });
});

describe('op types', () => {
  test('every op the model uses, those inside subgraphs (a Loop body) included, sorted and once each', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ms-ops-')), 'm.onnx');
    fs.writeFileSync(file, slowModel());
    expect(readModelMetadata(file).opTypes).toEqual(['Add', 'Cast', 'Gather', 'Identity', 'Loop', 'Mul', 'ReduceMax']);
  });
});

describe('class labels from the graph', () => {
  const write = (bytes: Uint8Array) => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ms-labels-')), 'm.onnx');
    fs.writeFileSync(file, bytes);
    return file;
  };

  test('are read from an ai.onnx.ml classifier node: strings or integers', () => {
    expect(readModelMetadata(write(treeEnsembleModel({ features: 3, trees: 2, depth: 2, labels: ['cat', 'dog', 'eel'] }))).classLabels).toEqual(['cat', 'dog', 'eel']);
    expect(readModelMetadata(write(treeEnsembleModel({ features: 3, trees: 2, depth: 2, classes: 4 }))).classLabels).toEqual([0, 1, 2, 3]);
  });

  test('are read from a large tree ensemble too (attributes of 10^5 values and more)', () => {
    const meta = readModelMetadata(write(treeEnsembleModel({ trees: 400, depth: 8, labels: ['no', 'yes'] })));
    expect(meta.classLabels).toEqual(['no', 'yes']);
    expect(meta.opTypes).toEqual(['TreeEnsembleClassifier']);
  });

  test('a model file extended with zero bytes (as a truncate or a sparse copy leaves it) is refused at the first of them, not read byte by byte', () => {
    const file = write(treeEnsembleModel({ features: 3, trees: 2, depth: 2 }));
    fs.truncateSync(file, 8 * 1024 * 1024);
    expect(() => readModelMetadata(file)).toThrow('not protobuf: a field number 0');
  });

  test('are absent for graphs without a classifier node', () => {
    const g = new GraphBuilder('plain');
    g.input('x', 'FLOAT', ['N', 2]);
    g.node('Identity', ['x'], {}, { outputs: ['y'] });
    g.output('y', 'FLOAT', ['N', 2]);
    expect(readModelMetadata(write(serializeModel(g))).classLabels).toBeUndefined();
  });
});
