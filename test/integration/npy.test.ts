// application/x-npy through the real stack, as the SageMaker SDK's NumpySerializer and NumpyDeserializer
// use it: files numpy wrote (test/fixtures/npy) in, .npy answers out, read back and compared with what the
// same rows answer as CSV and V2 JSON; a clear 400 for what numpy writes but a model cannot take.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { readNpy } from '../../container/src/codecs/npy';
import { GraphBuilder, serializeModel } from '../../container/src/onnx/writer';
import { baseDir, exampleBase, multiInputModel } from '../helpers/models';
import { csv, requireNginx, startServer, type Server } from '../helpers/server';

const fixture = (name: string) => fs.readFileSync(path.resolve(__dirname, '../fixtures/npy/requests', name));

/** A POST answered as bytes (the helper's request reads text). */
function post(server: Server, urlPath: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: urlPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const NPY = { 'Content-Type': 'application/x-npy', Accept: 'application/x-npy' };

beforeAll(() => requireNginx());

describe('the iris classifier', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startServer({ baseDir: exampleBase() });
  });
  afterAll(() => server.stop());

  test.each(['iris-f8.npy', 'iris-f4-fortran.npy', 'iris-f8-big-endian.npy', 'iris-i8.npy', 'iris-f4-v2.npy', 'iris-f4-v3.npy'])('%s: the labels CSV gives for the same rows, as a numpy string array', async (name) => {
    const reply = await post(server, '/invocations', fixture(name), NPY);
    expect({ status: reply.status, type: reply.type }).toEqual({ status: 200, type: 'application/x-npy' });
    const answer = readNpy(reply.body);
    const { values } = readNpy(fixture(name));
    const rows = Array.from({ length: 2 }, (_, r) => Array.from({ length: 4 }, (_, c) => Number((values as ArrayLike<number | bigint>)[r * 4 + c])).join(','));
    const viaCsv = (await csv(server.port, rows.join('\n'))).body.trimEnd().split('\n');
    expect({ shape: answer.shape, descr: `${answer.dtype.kind}${answer.dtype.size / 4}`, values: answer.values }).toEqual({ shape: [2], descr: 'U9', values: viaCsv });
  });

  test('one row as a 1-D array; the answer type mirrors the request when Accept is absent; JSON when asked', async () => {
    const one = await post(server, '/invocations', fixture('iris-one-row.npy'), { 'Content-Type': 'application/x-npy' });
    expect(one.type).toBe('application/x-npy');
    expect(readNpy(one.body).values).toEqual(['setosa']);
    const json = await post(server, '/invocations', fixture('iris-f8.npy'), { 'Content-Type': 'application/x-npy', Accept: 'application/json' });
    expect(JSON.parse(json.body.toString())).toEqual({ predictions: [{ predicted_label: 'setosa' }, { predicted_label: 'virginica' }] });
  });

  test('what numpy writes but the model cannot take is a 400 saying why', async () => {
    const cases: [string, string][] = [
      ['refused-object.npy', "application/x-npy: dtype object ('|O') is a pickle, which this server never loads; send numbers or fixed-width strings"],
      ['uint8.npy', 'application/x-npy: each row has 3 values, but the model takes 4 features'],
      ['unicode.npy', 'application/x-npy: dtype U6 cannot be rows of numbers: send a float or integer array'],
    ];
    for (const [name, message] of cases) {
      const reply = await post(server, '/invocations', fixture(name), NPY);
      expect({ status: reply.status, message: JSON.parse(reply.body.toString()).error.message }).toEqual({ status: 400, message });
    }
    const garbage = await post(server, '/invocations', Buffer.from('5.1,3.5,1.4,0.2'), NPY);
    expect(garbage.status).toBe(400);
  });
});

test('a tensor model takes the array as its one input, and answers its one output as numpy would; several inputs are refused naming them', async () => {
  const g = new GraphBuilder('neg');
  g.input('x', 'INT32', ['N', 3, 4]);
  g.node('Neg', ['x'], {}, { outputs: ['y'] });
  g.output('y', 'INT32', ['N', 3, 4]);
  const one = await startServer({ baseDir: baseDir({ 'model.onnx': serializeModel(g) }) });
  try {
    const reply = await post(one, '/invocations', fixture('int32-3d-fortran.npy'), NPY);
    expect(reply.status).toBe(200);
    const answer = readNpy(reply.body);
    expect({ shape: answer.shape, type: answer.dtype.type, values: Array.from(answer.values as Int32Array) }).toEqual({ shape: [2, 3, 4], type: 'int32', values: Array.from({ length: 24 }, (_, i) => 12 - i) });
    const wrongType = await post(one, '/invocations', fixture('iris-f4.npy'), NPY);
    expect(JSON.parse(wrongType.body.toString()).error.message).toBe('input "x": datatype FP32, but the model takes INT32');
  } finally {
    await one.stop();
  }
  const server = await startServer({ baseDir: baseDir({ 'model.onnx': multiInputModel() }) });
  try {
    const reply = await post(server, '/invocations', fixture('iris-f4.npy'), NPY);
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body.toString()).error.message).toBe('application/x-npy: this model takes 4 inputs (a, b, flag, tag), and a .npy body holds one array: send KServe V2 JSON');
  } finally {
    await server.stop();
  }
});
