// Every request format x model kind x Accept, through the real stack, against answers computed
// independently (onnxruntime in-process for the classifier, arithmetic for the others).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import * as ort from 'onnxruntime-node';
import { randomCsvRows, treeEnsembleModel } from '../../tools/src/tree-model';
import { baseDir, EXAMPLE_DIR, linearModel, multiInputModel } from '../helpers/models';
import { request, requireNginx, startServer, type Reply, type Server } from '../helpers/server';

type Rec = Record<string, unknown>;

const IRIS_NAMES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const IRIS_ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.4, 3.2, 4.5, 1.5],
  [6.7, 3.0, 5.2, 2.3],
];
const REG_NAMES = ['x1', 'x2', 'x3'];
const REG_W = [0.5, -2, 3];
const REG_B = 1.25;
const REG_ROWS = [
  [1, 2, 3],
  [0.5, 0, -1],
  [10, 20, 30],
];

interface Kind {
  name: string;
  names: string[];
  rows: number[][];
  expected: Rec[];
  v2: { request: unknown; outputs: Rec[] };
  server?: Server;
}

/** Request bodies for every row format, built from named rows. */
function bodies(names: string[], rows: number[][]): Record<string, { type: string; body: string }> {
  const objects = rows.map((r) => Object.fromEntries(names.map((n, i) => [n, r[i]])));
  return {
    'csv': { type: 'text/csv', body: rows.map((r) => r.join(',')).join('\n') },
    'csv with header, charset': { type: 'text/csv; charset=utf-8', body: `${names.join(',')}\r\n${rows.map((r) => r.join(',')).join('\r\n')}\r\n` },
    'json instances': { type: 'application/json', body: JSON.stringify({ instances: rows }) },
    'json instances as objects': { type: 'application/json', body: JSON.stringify({ instances: objects }) },
    'json bare array': { type: 'application/json', body: JSON.stringify(rows) },
    'jsonlines': { type: 'application/jsonlines', body: rows.map((r) => JSON.stringify(r)).join('\n') },
    'x-jsonlines objects': { type: 'application/x-jsonlines', body: objects.map((o) => JSON.stringify(o)).join('\n') },
    'octet-stream json': { type: 'application/octet-stream', body: JSON.stringify({ instances: rows }) },
  };
}

const ACCEPTS = [undefined, 'text/csv', 'application/json', 'application/jsonlines', 'application/json;q=0.5, text/csv'];

/** The answer as records, whatever its format. */
function records(reply: Reply, keys: string[]): Rec[] {
  const type = String(reply.headers['content-type']).split(';')[0];
  if (type === 'application/json') return reply.json().predictions;
  if (type === 'application/jsonlines') return reply.body.trimEnd().split('\n').map((l) => JSON.parse(l));
  const lines = parse(reply.body) as string[][];
  return lines.map((cells) => Object.fromEntries(keys.map((k, i) => [k, /^-?[\d.]/.test(cells[i]) ? Number(cells[i]) : cells[i]])));
}

function expectClose(actual: unknown, expected: unknown): void {
  if (typeof expected === 'number') expect(actual as number).toBeCloseTo(expected, 5);
  else if (Array.isArray(expected)) {
    expect(Array.isArray(actual)).toBe(true);
    (expected as unknown[]).forEach((e, i) => expectClose((actual as unknown[])[i], e));
  } else if (typeof expected === 'object' && expected !== null) {
    expect(Object.keys(actual as Rec)).toEqual(Object.keys(expected));
    for (const [k, v] of Object.entries(expected)) expectClose((actual as Rec)[k], v);
  } else expect(actual).toEqual(expected);
}

const classifier: Kind = { name: 'classifier', names: IRIS_NAMES, rows: IRIS_ROWS, expected: [], v2: { request: null, outputs: [] } };
const regressor: Kind = {
  name: 'regressor',
  names: REG_NAMES,
  rows: REG_ROWS,
  expected: REG_ROWS.map((r) => ({ score: r.reduce((s, v, i) => s + v * REG_W[i], REG_B) })),
  v2: {
    request: { inputs: [{ name: 'features', shape: [3, 3], datatype: 'FP64', data: REG_ROWS }] },
    outputs: [{ name: 'variable', datatype: 'FP64', shape: [3], data: REG_ROWS.map((r) => r.reduce((s, v, i) => s + v * REG_W[i], REG_B)) }],
  },
};
const multi = {
  request: {
    id: 'multi-1',
    inputs: [
      { name: 'a', shape: [2, 2], datatype: 'FP32', data: [[1.5, 2], [3, 4]] },
      { name: 'b', shape: [2], datatype: 'INT64', data: [10, -1] },
      { name: 'flag', shape: [], datatype: 'BOOL', data: [false] },
      { name: 'tag', shape: [2], datatype: 'BYTES', data: ['x', 'naïve'] },
    ],
  },
  outputs: [
    { name: 'sum', datatype: 'FP32', shape: [2], data: [13.5, 6] },
    { name: 'b2', datatype: 'INT64', shape: [2], data: [20, -2] },
    { name: 'not_flag', datatype: 'BOOL', shape: [], data: [true] },
    { name: 'tag_out', datatype: 'BYTES', shape: [2], data: ['x', 'naïve'] },
  ],
};
let multiServer: Server;

beforeAll(async () => {
  requireNginx();
  const iris = path.join(EXAMPLE_DIR, 'model/model.onnx');
  const session = await ort.InferenceSession.create(iris);
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(IRIS_ROWS.flat()), [3, 4]) });
  const p = Array.from(out.probabilities.data as Float32Array);
  classifier.expected = IRIS_ROWS.map((_, r) => ({ predicted_label: (out.label.data as string[])[r], probability: Math.max(...p.slice(r * 3, r * 3 + 3)) }));
  classifier.v2 = {
    request: { inputs: [{ name: 'input', shape: [3, 4], datatype: 'FP32', data: IRIS_ROWS.flat() }], outputs: [{ name: 'probabilities' }] },
    outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [3, 3], data: p }],
  };
  const env = { MODEL_SERVER_WORKERS: '1', SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,probability' };
  [classifier.server, regressor.server, multiServer] = await Promise.all([
    startServer({ baseDir: baseDir({ 'model.onnx': fs.readFileSync(iris), 'model.json': fs.readFileSync(path.join(EXAMPLE_DIR, 'model/model.json')) }), env }),
    startServer({ baseDir: baseDir({ 'model.onnx': linearModel(REG_W, REG_B, true), 'model.json': JSON.stringify({ features: REG_NAMES, task: 'regression' }) }), env }),
    startServer({ baseDir: baseDir({ 'model.onnx': multiInputModel() }), env }),
  ]);
});
afterAll(() => Promise.all([classifier.server?.stop(), regressor.server?.stop(), multiServer?.stop()]));

describe.each([classifier, regressor])('$name', (kind) => {
  const formats = Object.entries(bodies(kind.names, kind.rows));
  const cases = formats.flatMap(([format, b]) => ACCEPTS.map((accept) => ({ format, accept: accept ?? '(none)', ...b })));

  test.each(cases)('$format with Accept $accept: one record per row, equal to the model', async ({ type, body, accept }) => {
    const headers: Record<string, string> = { 'Content-Type': type };
    if (accept !== '(none)') headers.Accept = accept;
    const reply = await request(kind.server!.port, 'POST', '/invocations', { body, headers });
    expect(reply.status).toBe(200);
    const responseType = String(reply.headers['content-type']).split(';')[0];
    if (accept === '(none)') {
      // Mirrors the request type (JSON for octet-stream, the canonical name for x-jsonlines).
      const mirrored = type.startsWith('text/csv') ? 'text/csv' : type.includes('jsonlines') ? 'application/jsonlines' : 'application/json';
      expect(responseType).toBe(mirrored);
    } else {
      expect(responseType).toBe(accept.endsWith('text/csv') ? 'text/csv' : accept);
    }
    const keys = Object.keys(kind.expected[0]);
    expectClose(records(reply, keys), kind.expected);
  });

  test('a KServe V2 request gets a V2 answer with the raw outputs', async () => {
    const reply = await request(kind.server!.port, 'POST', '/invocations', { body: JSON.stringify(kind.v2.request), headers: { 'Content-Type': 'application/json' } });
    expect(reply.status).toBe(200);
    const body = reply.json();
    expect(body.model_name).toBe('model');
    expectClose(body.outputs, kind.v2.outputs);
  });

  test('a V2 request with Accept text/csv only is 406', async () => {
    const reply = await request(kind.server!.port, 'POST', '/invocations', { body: JSON.stringify(kind.v2.request), headers: { 'Content-Type': 'application/json', Accept: 'text/csv' } });
    expect(reply.status).toBe(406);
    expect(reply.json().error.message).toMatch(/V2 requests are answered with application\/json/);
  });

  test('GET /predict_parameters takes one row by feature name and answers one JSON record', async () => {
    const query = kind.names.map((n, i) => `${n}=${kind.rows[0][i]}`).join('&');
    const reply = await request(kind.server!.port, 'GET', `/predict_parameters?${query}`);
    expect(reply.status).toBe(200);
    expectClose(reply.json(), kind.expected[0]);
  });

  test('GET /predict_parameters with a missing or unknown name is 400 listing the expected names', async () => {
    const missing = await request(kind.server!.port, 'GET', `/predict_parameters?${kind.names[0]}=1`);
    expect(missing.status).toBe(400);
    expect(missing.json().error.message).toContain(`expected ${kind.names.join(', ')}`);
    const unknown = await request(kind.server!.port, 'GET', `/predict_parameters?${kind.names.map((n) => `${n}=1`).join('&')}&bogus=2`);
    expect(unknown.status).toBe(400);
    expect(unknown.json().error).toMatchObject({ code: 'UNKNOWN_FEATURE' });
    expect(unknown.json().error.message).toContain('unknown: bogus');
    const notNumber = await request(kind.server!.port, 'GET', `/predict_parameters?${kind.names.map((n, i) => `${n}=${i === 1 ? 'abc' : 1}`).join('&')}`);
    expect(notNumber.json().error).toEqual({ code: 'INVALID_VALUE', message: `parameter "${kind.names[1]}": "abc" is not a number` });
  });
});

describe('a model with several inputs of several types', () => {
  test('KServe V2 in and out: float, int64, bool scalar and string tensors', async () => {
    const reply = await request(multiServer.port, 'POST', '/invocations', { body: JSON.stringify(multi.request), headers: { 'Content-Type': 'application/json', Accept: 'application/json' } });
    expect(reply.status).toBe(200);
    const body = reply.json();
    expect(body.id).toBe('multi-1');
    expectClose(body.outputs, multi.outputs);
  });

  test('asking for some outputs returns only those', async () => {
    const reply = await request(multiServer.port, 'POST', '/invocations', { body: JSON.stringify({ ...multi.request, outputs: [{ name: 'b2' }] }), headers: { 'Content-Type': 'application/json' } });
    expect(reply.json().outputs.map((o: Rec) => o.name)).toEqual(['b2']);
  });

  test.each([
    ['an unknown input name', { inputs: [...multi.request.inputs, { name: 'extra', shape: [1], datatype: 'FP32', data: [1] }] }, 'input "extra" is not an input of this model'],
    ['a missing input', { inputs: multi.request.inputs.slice(0, 3) }, 'missing input(s) "tag"'],
    ['a wrong datatype', { inputs: [{ ...multi.request.inputs[0], datatype: 'FP64' }, ...multi.request.inputs.slice(1)] }, 'input "a": datatype FP64, but the model takes FP32'],
    ['a wrong shape', { inputs: [{ ...multi.request.inputs[0], shape: [1, 4], data: [1, 2, 3, 4] }, ...multi.request.inputs.slice(1)] }, 'input "a": dimension 1 is 4, but the model needs 2'],
    ['too few values', { inputs: [{ ...multi.request.inputs[0], data: [1, 2, 3] }, ...multi.request.inputs.slice(1)] }, 'input "a": 3 value(s) for shape [2, 2], which holds 4'],
  ])('%s is 400 INVALID_TENSOR naming the input, and the server keeps serving', async (_what, doc, message) => {
    const reply = await request(multiServer.port, 'POST', '/invocations', { body: JSON.stringify(doc), headers: { 'Content-Type': 'application/json' } });
    expect(reply.status).toBe(400);
    expect(reply.json().error.code).toBe('INVALID_TENSOR');
    expect(reply.json().error.message).toContain(message);
    const again = await request(multiServer.port, 'POST', '/invocations', { body: JSON.stringify(multi.request), headers: { 'Content-Type': 'application/json' } });
    expect(again.status).toBe(200);
  });

  test('inputs that disagree on a shared dimension (N) are a 400 naming both, before the graph runs', async () => {
    const doc = { inputs: [multi.request.inputs[0], { name: 'b', shape: [3], datatype: 'INT64', data: [1, 2, 3] }, ...multi.request.inputs.slice(2)] };
    const reply = await request(multiServer.port, 'POST', '/invocations', { body: JSON.stringify(doc), headers: { 'Content-Type': 'application/json' } });
    expect(reply.status).toBe(400);
    expect(reply.json().error).toEqual({
      code: 'INVALID_TENSOR',
      message: 'input "b": dimension 0 (N) is 3, but input "a" has 2 in its dimension 0 (N); inputs sharing a dimension name must agree',
    });
  });

  test.each(Object.entries(bodies(['a', 'b'], [[1, 2]])))('rows (%s) are 415 saying to send V2 tensors', async (_format, { type, body }) => {
    const reply = await request(multiServer.port, 'POST', '/invocations', { body, headers: { 'Content-Type': type } });
    expect(reply.status).toBe(415);
    expect(reply.json().error.message).toMatch(/send KServe V2 tensors/);
  });

  test('the start-up line says the model was warmed', () => {
    const ready = multiServer.logs.find((l) => /^ready:/.test(l.msg));
    expect(ready).toMatchObject({ kind: 'tensor', warmed: true });
  });
});

describe('malformed input through the real stack: a 4xx naming the place, and the next request still served', () => {
  const good = { body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv' } };
  test.each([
    ['invalid UTF-8', Buffer.from([0x35, 0x2e, 0x31, 0x2c, 0xff, 0x2c, 0x31, 0x2c, 0x32]), 'text/csv', 400, 'INVALID_ENCODING', 'first bad byte at offset 4'],
    ['an unterminated quote', '5.1,3.5,1.4,0.2\n"6.4,3.2,4.5,1.5\n', 'text/csv', 400, 'MALFORMED_CSV', 'line'],
    ['a ragged row', '5.1,3.5,1.4,0.2\n6.4,3.2,4.5\n', 'text/csv', 400, 'WRONG_FEATURE_COUNT', 'line 2: 3 value(s), but the model has 4 feature(s)'],
    ['a non-number', '5.1,3.5,1.4,0.2\n6.4,3.2,four,1.5', 'text/csv', 400, 'INVALID_VALUE', 'line 2, column 3: "four" is not a number'],
    ['NaN in JSON', '{"instances": [[5.1, NaN, 1.4, 0.2]]}', 'application/json', 400, 'MALFORMED_JSON', 'line 1, column 22: unexpected "N", expected a value (NaN and Infinity are not JSON: write "NaN", "Infinity", "-Infinity")'],
    ['a huge number', '[[5.1, 1e400, 1.4, 0.2]]', 'application/json', 400, 'INVALID_VALUE', 'record 1, column 2: the number is too large'],
    ['a value beyond float32', '5.1,3.5,1e39,0.2', 'text/csv', 400, 'INVALID_VALUE', "line 1, column 3: \"1e39\" is outside the range the model's float32 input can hold"],
    ['deeply nested JSON', `{"instances": [[5.1, 3.5, 1.4, ${'['.repeat(50000)}0${']'.repeat(50000)}]]}`, 'application/json', 400, 'INVALID_VALUE', 'instances[0], column 4: an array is not a number'],
    ['an empty body', '', 'text/csv', 400, 'EMPTY_PAYLOAD', 'no records'],
    ['a header naming unknown features', 'sepal_length,sepal_width,petal_length,petal_colour\n1,2,3,4', 'text/csv', 400, 'UNKNOWN_FEATURE', 'line 1 (header): unknown feature(s) "petal_colour"; expected sepal_length, sepal_width, petal_length, petal_width'],
    ['a wrong V2 shape', JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }), 'application/json', 400, 'INVALID_TENSOR', 'input "input": dimension 1 is 3, but the model needs 4'],
    ['a wrong V2 datatype', JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'INT64', data: [1, 2, 3, 4] }] }), 'application/json', 400, 'INVALID_TENSOR', 'input "input": datatype INT64, but the model takes FP32'],
    ['an unknown charset', '5.1,3.5,1.4,0.2', 'text/csv; charset=klingon', 415, 'UNSUPPORTED_MEDIA_TYPE', 'charset=klingon'],
  ])('%s', async (_what, body, type, status, code, message) => {
    const server = classifier.server!;
    const reply = await request(server.port, 'POST', '/invocations', { body, headers: { 'Content-Type': type } });
    expect(reply.status).toBe(status);
    expect(reply.json().error.code).toBe(code);
    expect(reply.json().error.message).toContain(message);
    expect(reply.body).not.toMatch(/\bat \S+:\d+:\d+/);
    expect((await request(server.port, 'POST', '/invocations', good)).status).toBe(200);
  });

  test("the app's own 413 (what nginx would otherwise catch) has nginx's exact words", async () => {
    const server = classifier.server!;
    const big = '5.1,3.5,1.4,0.2\n'.repeat(Math.ceil((6 * 1024 * 1024) / 16) + 10);
    const viaNginx = await request(server.port, 'POST', '/invocations', { body: big, headers: { 'Content-Type': 'text/csv' } });
    const direct = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const http = require('node:http') as typeof import('node:http');
      const req = http.request({ socketPath: path.join(server.runDir, 'worker-0.sock'), path: '/invocations', method: 'POST', headers: { 'Content-Type': 'text/csv' } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('error', reject);
      req.end(big);
    });
    expect(viaNginx.status).toBe(413);
    expect(direct.status).toBe(413);
    expect(JSON.parse(direct.body)).toEqual(viaNginx.json());
  });
});

test('a classifier without model.json takes its class names from the graph (skl2onnx-style)', async () => {
  const server = await startServer({ baseDir: baseDir({ 'model.onnx': treeEnsembleModel({ features: 5, trees: 10, depth: 3, labels: ['cat', 'dog', 'eel'] }) }), env: { MODEL_SERVER_WORKERS: '1', SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,labels,probabilities' } });
  try {
    const reply = await request(server.port, 'POST', '/invocations', { body: randomCsvRows(4, 5, 2).join('\n'), headers: { 'Content-Type': 'text/csv', Accept: 'application/json' } });
    expect(reply.status).toBe(200);
    for (const p of reply.json().predictions) {
      expect(p.labels).toEqual(['cat', 'dog', 'eel']);
      expect(p.predicted_label).toBe(p.labels[p.probabilities.indexOf(Math.max(...p.probabilities))]);
    }
  } finally {
    await server.stop();
  }
});
