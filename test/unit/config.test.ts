import * as os from 'node:os';
import * as path from 'node:path';
import { mediaTypes } from '../../container/src/codecs/registry';
import { checkDefaultAccept } from '../../container/src/models/media';
import { usableCpus } from '../../container/src/config/host';
import { loadConfig, payloadLimitBytes } from '../../container/src/config/serving';
import { thrown } from '../helpers/errors';

const errorOf = (env: Record<string, string>) => thrown(() => loadConfig(env));

describe('config', () => {
  test('defaults follow SageMaker', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ baseDir: '/opt/ml', port: 8080, timeoutSeconds: 60, maxPayloadMb: 6, threads: 1, maxBatch: 32, intraOpThreads: 1, inferenceOutput: ['predicted_label'], batch: false, logLevel: 'info' });
    expect(c.workers).toBeGreaterThanOrEqual(1);
    expect(c.defaultAccept).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  test('the default run directory names the port, so servers on two ports need no setting', () => {
    expect(loadConfig({}).runDir).toBe(path.join(os.tmpdir(), 'model-server-8080'));
    expect(loadConfig({ SAGEMAKER_BIND_TO_PORT: '9001' }).runDir).toBe(path.join(os.tmpdir(), 'model-server-9001'));
    expect(loadConfig({ SAGEMAKER_BIND_TO_PORT: '9001', MODEL_SERVER_RUN_DIR: '/tmp/mine' }).runDir).toBe('/tmp/mine');
  });

  test('batch transform raises the default payload limit to 100 MB', () => {
    expect(loadConfig({ SAGEMAKER_BATCH: 'true' }).maxPayloadMb).toBe(100);
    expect(loadConfig({ SAGEMAKER_BATCH: 'true', SAGEMAKER_MAX_PAYLOAD_IN_MB: '20' }).maxPayloadMb).toBe(20);
  });

  test('batch transform: up to 3600 s per request by default, and the job\'s strategy and concurrency', () => {
    expect(loadConfig({ SAGEMAKER_BATCH: 'true' }).timeoutSeconds).toBe(3600);
    expect(loadConfig({ SAGEMAKER_BATCH: 'true', MODEL_SERVER_TIMEOUT: '120' }).timeoutSeconds).toBe(120);
    expect(loadConfig({ SAGEMAKER_BATCH_STRATEGY: 'SingleRecord', SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '8' })).toMatchObject({ batchStrategy: 'SINGLE_RECORD', maxConcurrentTransforms: 8 });
    expect(loadConfig({ SAGEMAKER_BATCH_STRATEGY: 'MULTI_RECORD' }).batchStrategy).toBe('MULTI_RECORD');
  });

  test('0 means no payload limit', () => {
    expect(payloadLimitBytes(loadConfig({ SAGEMAKER_MAX_PAYLOAD_IN_MB: '0' }))).toBeUndefined();
    expect(payloadLimitBytes(loadConfig({}))).toBe(6 * 1024 * 1024);
  });

  test('SageMaker aliases are read, and the MODEL_SERVER_ name wins', () => {
    expect(loadConfig({ SAGEMAKER_MODEL_SERVER_WORKERS: '3', SAGEMAKER_MODEL_SERVER_TIMEOUT: '9' })).toMatchObject({ workers: 3, timeoutSeconds: 9 });
    expect(loadConfig({ MODEL_SERVER_WORKERS: '5', SAGEMAKER_MODEL_SERVER_WORKERS: '3' }).workers).toBe(5);
  });

  test('inference output keys are parsed in order', () => {
    expect(loadConfig({ SAGEMAKER_INFERENCE_OUTPUT: 'probability, predicted_label' }).inferenceOutput).toEqual(['probability', 'predicted_label']);
  });

  test('the default Accept drops parameters and lower-cases', () => {
    expect(loadConfig({ SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: 'Text/CSV; charset=utf-8' }).defaultAccept).toBe('text/csv');
  });

  test.each([
    [{ MODEL_SERVER_WORKERS: 'lots' }, 'MODEL_SERVER_WORKERS="lots" is invalid: expected a whole number from 1 to 512'],
    [{ MODEL_SERVER_WORKERS: '0' }, 'MODEL_SERVER_WORKERS="0" is invalid: expected a whole number from 1 to 512'],
    [{ SAGEMAKER_MODEL_SERVER_WORKERS: '2.5' }, 'SAGEMAKER_MODEL_SERVER_WORKERS="2.5" is invalid'],
    [{ SAGEMAKER_BIND_TO_PORT: '70000' }, 'SAGEMAKER_BIND_TO_PORT="70000" is invalid: expected a whole number from 1 to 65535'],
    [{ MODEL_SERVER_TIMEOUT: '0' }, 'MODEL_SERVER_TIMEOUT="0" is invalid: expected a number from 0.1 to 3600'],
    [{ MODEL_SERVER_TIMEOUT: 'soon' }, 'MODEL_SERVER_TIMEOUT="soon" is invalid'],
    [{ SAGEMAKER_MAX_PAYLOAD_IN_MB: '-1' }, 'SAGEMAKER_MAX_PAYLOAD_IN_MB="-1" is invalid'],
    [{ SAGEMAKER_BATCH: 'maybe' }, 'SAGEMAKER_BATCH="maybe" is invalid: expected true or false'],
    [{ SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,score' }, 'SAGEMAKER_INFERENCE_OUTPUT="predicted_label,score" is invalid: expected a comma-separated list of predicted_label, probability, probabilities, labels, raw_score, raw_scores, predicted_score (unknown key "score")'],
    [{ SAGEMAKER_INFERENCE_OUTPUT: 'probability,probability' }, 'each key at most once'],
    [{ SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: 'csv' }, 'SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT="csv" is invalid: expected a media type'],
    [{ SAGEMAKER_BATCH_STRATEGY: 'sometimes' }, 'SAGEMAKER_BATCH_STRATEGY="sometimes" is invalid: expected MULTI_RECORD or SINGLE_RECORD'],
    [{ SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: '0' }, 'SAGEMAKER_MAX_CONCURRENT_TRANSFORMS="0" is invalid'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL="loud" is invalid: expected one of fatal, error, warn, info, debug, trace, silent'],
    [{ MODEL_SERVER_RUN_DIR: `/tmp/${'x'.repeat(100)}` }, 'expected a path of at most 90 bytes'],
    [{ MODEL_SERVER_THREADS: '' + 1000 }, 'MODEL_SERVER_THREADS="1000" is invalid'],
  ])('rejects %j naming the variable', (env, message) => {
    const err = errorOf(env as Record<string, string>);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain(message);
  });
});

describe('the default Accept against what the model writes', () => {
  test('a type the model does not produce stops start-up naming the variable', () => {
    const config = loadConfig({ SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: 'text/xml' });
    const err = thrown(() => checkDefaultAccept(config.defaultAccept, mediaTypes()));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toBe('SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT="text/xml" is invalid: expected one of text/csv, application/json, application/jsonlines, application/x-recordio-protobuf, application/x-npy');
  });

  test('types and aliases the model writes are taken', () => {
    for (const type of ['text/csv', 'application/jsonlines', 'application/x-jsonlines']) {
      expect(() => checkDefaultAccept(loadConfig({ SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: type }).defaultAccept, mediaTypes())).not.toThrow();
    }
  });
});

describe("serve's arguments, the model's name and folder, metrics and CloudWatch lines", () => {
  test("KServe's arguments set the model's name, folder and port, and win over the variables", () => {
    const c = loadConfig({ MODEL_SERVER_MODEL_NAME: 'from-env', SAGEMAKER_BIND_TO_PORT: '9000' }, ['--model_name=iris', '--model_dir', '/mnt/models', '--http_port=8081']);
    expect(c).toMatchObject({ modelName: 'iris', modelDir: '/mnt/models', port: 8081 });
    expect(loadConfig({ SAGEMAKER_BASE_DIR: '/base' })).toMatchObject({ modelName: 'model', modelDir: '/base/model' });
    expect(loadConfig({ MODEL_SERVER_MODEL_DIR: '/mnt/models/' }).modelDir).toBe('/mnt/models');
  });

  test.each([
    [['--model_nme=x'], 'serve does not take the argument "--model_nme=x"; it takes --model_name=<value>, --model_dir=<value>, --http_port=<value> (or their environment variables)'],
    [['--model_dir'], 'serve argument --model_dir needs a value (--model_dir=<value>)'],
    [['--http_port=http'], '--http_port="http" is invalid: expected a whole number from 1 to 65535'],
    [['--model_dir=models'], '--model_dir="models" is invalid: expected an absolute folder path, such as /mnt/models'],
    [['--model_name=a/b'], '--model_name="a/b" is invalid: expected letters, digits, ".", "_" and "-", starting with a letter or digit, at most 256'],
  ])('a bad argument stops start-up naming it: %j', (argv, message) => {
    const err = thrown(() => loadConfig({}, argv));
    expect({ code: err.code, message: err.message }).toEqual({ code: 'CONFIG_INVALID', message });
  });

  test('nginx runs one worker process per three CPUs, at least one, unless MODEL_SERVER_NGINX_WORKERS says otherwise', () => {
    expect(loadConfig({}).nginxWorkers).toBe(Math.max(1, Math.ceil(usableCpus() / 3)));
    expect(loadConfig({ MODEL_SERVER_NGINX_WORKERS: '3' }).nginxWorkers).toBe(3);
    expect(loadConfig({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9000' }).nginxWorkers).toBe(Math.max(1, Math.floor(usableCpus() / 2)));
    expect(errorOf({ MODEL_SERVER_NGINX_WORKERS: '0' }).message).toBe('MODEL_SERVER_NGINX_WORKERS="0" is invalid: expected a whole number from 1 to 512');
  });

  test("small batches run on the workers' own threads by default with one model, not on a multi-model endpoint", () => {
    expect(loadConfig({}).inline).toBe(true);
    expect(loadConfig({ SAGEMAKER_MULTI_MODEL: 'true' }).inline).toBe(false);
    expect(loadConfig({ SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_INLINE: 'true' }).inline).toBe(true);
    expect(loadConfig({ MODEL_SERVER_INLINE: 'false' }).inline).toBe(false);
    expect(errorOf({ MODEL_SERVER_INLINE: 'sometimes' }).message).toBe('MODEL_SERVER_INLINE="sometimes" is invalid: expected true or false');
  });

  test('metrics are on by default; CloudWatch lines off until MODEL_SERVER_EMF=true, then every minute in ModelServer', () => {
    expect(loadConfig({})).toMatchObject({ metrics: true, emf: undefined });
    expect(loadConfig({ MODEL_SERVER_METRICS: 'false' }).metrics).toBe(false);
    expect(loadConfig({ MODEL_SERVER_EMF: 'true' }).emf).toEqual({ namespace: 'ModelServer', intervalSeconds: 60 });
    expect(loadConfig({ MODEL_SERVER_EMF: 'true', MODEL_SERVER_EMF_INTERVAL: '10', MODEL_SERVER_EMF_NAMESPACE: 'Team/Endpoints' }).emf).toEqual({ namespace: 'Team/Endpoints', intervalSeconds: 10 });
    expect(errorOf({ MODEL_SERVER_EMF: 'true', MODEL_SERVER_EMF_NAMESPACE: 'AWS/SageMaker' }).message).toBe('MODEL_SERVER_EMF_NAMESPACE="AWS/SageMaker" is invalid: expected a CloudWatch namespace: 1 to 255 printable ASCII characters, not starting with AWS/');
    expect(errorOf({ MODEL_SERVER_EMF: 'true', MODEL_SERVER_EMF_INTERVAL: '0' }).message).toBe('MODEL_SERVER_EMF_INTERVAL="0" is invalid: expected a whole number from 1 to 3600');
  });
});
