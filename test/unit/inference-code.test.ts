// The pieces of users' inference code that need no server: where the module is found, the settings that
// point at it, negotiation against the media types its hooks declare, plain values written as bodies, and
// the typed declarations checked against the examples by the TypeScript compiler.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';
import { mediaTypes } from '../../container/src/codecs/registry';
import { encodeValue } from '../../container/src/codecs/values';
import { LoadContext, RequestContext } from '../../container/src/inference/context';
import { checkDefaultAccept } from '../../container/src/models/media';
import { loadConfig } from '../../container/src/config/serving';
import { consumed, negotiate } from '../../container/src/http/invocation';
import { findInferenceCode, modelFolder } from '../../container/src/paths';
import { thrown } from '../helpers/errors';

const ROOT = path.resolve(__dirname, '../..');
const tmp = (files: Record<string, string>) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-code-unit-'));
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
};

describe('finding the module', () => {
  test('inference.mjs, .js or .cjs in code/; SAGEMAKER_PROGRAM names another; two candidates are an error', () => {
    expect(findInferenceCode(path.join(tmp({ 'code/inference.cjs': '' }), 'code'), undefined, true)).toMatch(/code\/inference\.cjs$/);
    expect(findInferenceCode(path.join(tmp({}), 'code'), undefined, true)).toBeUndefined();
    expect(findInferenceCode(path.join(tmp({ 'code/serve.mjs': '', 'code/inference.mjs': '' }), 'code'), 'serve.mjs', true)).toMatch(/serve\.mjs$/);
    expect(thrown(() => findInferenceCode(path.join(tmp({ 'code/inference.js': '', 'code/inference.mjs': '' }), 'code'), undefined, true))).toMatchObject({ code: 'INFERENCE_CODE_INVALID', message: expect.stringMatching(/inference\.mjs and inference\.js: keep one/) });
    expect(thrown(() => findInferenceCode(path.join(tmp({}), 'code'), 'serve.mjs', true))).toMatchObject({ code: 'INFERENCE_CODE_INVALID', message: expect.stringMatching(/^SAGEMAKER_PROGRAM=serve\.mjs, but .*serve\.mjs does not exist/) });
    // On a multi-model endpoint a model without that file simply has no code.
    expect(findInferenceCode(path.join(tmp({}), 'code'), 'serve.mjs', false)).toBeUndefined();
  });

  test('a folder with code needs no .onnx file (modelFn may load anything); without code it does', () => {
    const withCode = tmp({ 'code/inference.mjs': '' });
    expect(modelFolder(withCode, path.join(withCode, 'code'), undefined, true)).toEqual({ codeFile: path.join(withCode, 'code/inference.mjs') });
    const empty = tmp({ 'readme.txt': '' });
    expect(thrown(() => modelFolder(empty, path.join(empty, 'code'), undefined, true))).toMatchObject({ code: 'MODEL_NOT_FOUND' });
  });
});

describe('settings', () => {
  test('SAGEMAKER_PROGRAM is a JavaScript file name inside the code folder', () => {
    expect(loadConfig({ SAGEMAKER_PROGRAM: 'handler.cjs' }).program).toBe('handler.cjs');
    expect(thrown(() => loadConfig({ SAGEMAKER_PROGRAM: 'inference.py' }))).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^SAGEMAKER_PROGRAM="inference\.py" is invalid: .*not Python/) });
    for (const bad of ['../x.mjs', '/abs/x.mjs', 'x.ts']) expect(thrown(() => loadConfig({ SAGEMAKER_PROGRAM: bad })).message).toMatch(/^SAGEMAKER_PROGRAM=/);
  });

  test('SAGEMAKER_SUBMIT_DIRECTORY: a local folder is used, an s3:// URI is left alone, anything else is refused', () => {
    const dir = tmp({});
    expect(loadConfig({ SAGEMAKER_SUBMIT_DIRECTORY: dir }).submitDirectory).toBe(dir);
    expect(loadConfig({ SAGEMAKER_SUBMIT_DIRECTORY: 's3://bucket/code/sourcedir.tar.gz' }).submitDirectory).toBeUndefined();
    expect(thrown(() => loadConfig({ SAGEMAKER_SUBMIT_DIRECTORY: 'code' })).message).toMatch(/^SAGEMAKER_SUBMIT_DIRECTORY="code" is invalid: expected an absolute folder path/);
    expect(thrown(() => loadConfig({ SAGEMAKER_SUBMIT_DIRECTORY: path.join(dir, 'nope') })).message).toMatch(/an existing folder/);
  });

  test('SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT may name any type a wildcard-producing module covers', () => {
    const config = loadConfig({ SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: 'image/png' });
    expect(() => checkDefaultAccept(config.defaultAccept, { produces: ['*/*'], aliases: {} })).not.toThrow();
    expect(() => checkDefaultAccept(config.defaultAccept, { produces: ['image/*'], aliases: {} })).not.toThrow();
    expect(() => checkDefaultAccept(config.defaultAccept, mediaTypes())).toThrow(/SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT/);
  });
});

describe("the response headers a hook may set", () => {
  test('its own and X-Amzn-SageMaker-Custom-Attributes; never the server\'s, nor those nginx acts on (X-Accel-Redirect would send the request elsewhere)', () => {
    const invocation = { requestId: 'r', model: 'm', input: { kind: 'fields' as const, fields: {} }, output: { mediaType: 'application/json', keys: [] }, tensorsAcceptable: true };
    const context = new RequestContext(new LoadContext('m', '/tmp', 1), invocation);
    context.setHeader('X-Amzn-SageMaker-Custom-Attributes', 'a=1');
    context.setHeader('X-Model-Version', 3);
    expect(context.headersSet()).toEqual({ 'X-Amzn-SageMaker-Custom-Attributes': 'a=1', 'X-Model-Version': '3' });
    for (const name of ['Content-Length', 'X-Request-Id', 'X-Accel-Redirect', 'x-accel-buffering', 'X-Model-Server-Retry']) {
      expect(() => context.setHeader(name, '1')).toThrow(`setHeader: "${name}" is not a header the model's code may set`);
    }
  });
});

describe('negotiation against what a module declares', () => {
  const aliases = mediaTypes().aliases;
  const anyIn = { consumes: ['*/*'], produces: ['*/*'], aliases };
  const png = { consumes: ['image/png'], produces: ['application/json'], aliases };

  test('declared request types decide 415; a module reading any type takes any', () => {
    expect(consumed(png, 'image/png')).toBe('image/png');
    expect(consumed(png, 'text/csv')).toBeUndefined();
    expect(consumed(anyIn, 'application/x-anything')).toBe('application/x-anything');
    expect(consumed({ ...png, consumes: ['image/*'] }, 'image/jpeg')).toBe('image/jpeg');
  });

  test.each([
    // accept, request type, default accept, expected
    [undefined, 'image/png', undefined, 'application/json'],
    [undefined, 'text/csv', undefined, 'text/csv'],
    ['image/webp', 'image/png', undefined, 'image/webp'],
    ['*/*', 'application/x-thing', undefined, 'application/json'],
    [undefined, 'image/png', 'text/plain', 'text/plain'],
  ])('a module writing any type: Accept %p for %p (default %p) -> %p', (accept, type, dflt, expected) => {
    expect(negotiate(accept, type, dflt, anyIn)).toBe(expected);
  });

  test('a module declaring what it writes is held to it: 406 otherwise', () => {
    expect(negotiate('text/csv', 'image/png', undefined, png)).toBeUndefined();
    expect(negotiate(undefined, 'image/png', undefined, png)).toBe('application/json');
    expect(negotiate('application/*', 'image/png', undefined, png)).toBe('application/json');
  });
});

describe('plain values as bodies', () => {
  test('JSON for any value: typed arrays as lists, 64-bit integers as numbers or decimal strings', () => {
    expect(encodeValue({ p: Float32Array.from([0.5, 0.25]), n: 7n, big: 2n ** 60n, m: new Map([['a', 1]]) }, 'application/json')).toBe('{"p":[0.5,0.25],"n":7,"big":"1152921504606846976","m":{"a":1}}');
  });

  test('CSV and JSON Lines: one line per element; objects by their values; text quoted when it needs to be', () => {
    const rows = [{ label: 'a,b', score: 1 }, ['say "hi"', null, [1, 2]], 3];
    expect(encodeValue(rows, 'text/csv')).toBe('"a,b",1\n"say ""hi""",,"[1,2]"\n3\n');
    expect(encodeValue(rows, 'application/jsonlines')).toBe('{"label":"a,b","score":1}\n["say \\"hi\\"",null,[1,2]]\n3\n');
    expect(encodeValue({ one: 1 }, 'text/csv')).toBe('1\n');
  });

  test('other types cannot be written from a value', () => {
    expect(encodeValue({ a: 1 }, 'image/png')).toBeUndefined();
  });
});

describe('typed declarations (container/types/inference.d.ts)', () => {
  /** TypeScript's own diagnostics for JavaScript modules checked against the declarations. */
  function check(files: string[]): string[] {
    const program = ts.createProgram(files, { allowJs: true, checkJs: true, noEmit: true, strict: true, noImplicitAny: false, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, target: ts.ScriptTarget.ES2022, types: ['node'], skipLibCheck: true });
    return ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  }

  test('the examples type-check against them', () => {
    const examples = ['churn-threshold', 'png-colour'].map((e) => path.join(ROOT, 'local-test/examples', e, 'model/code/inference.mjs'));
    expect(check(examples)).toEqual([]);
  }, 60_000);

  test('a hook used against its type is caught (the check is live)', () => {
    const dir = path.join(ROOT, 'local-test/examples/churn-threshold/model/code');
    const file = path.join(dir, `typecheck-probe-${process.pid}.mjs`);
    fs.writeFileSync(file, `/** @type {import('../../../../../container/types/inference').OutputFn<import('../../../../../container/types/inference').ClassificationRecord[]>} */\nexport const outputFn = (p, accept, context) => p.map((r) => r.predicted_label.toFixed(2) + context.requestID);\n`);
    try {
      const problems = check([file]).join('\n');
      expect(problems).toMatch(/requestID/);
    } finally {
      fs.rmSync(file);
    }
  }, 60_000);
});
