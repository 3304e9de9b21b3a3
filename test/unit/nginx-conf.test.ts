import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findNginx, renderNginxConf, writeNginxConf } from '../../container/src/cluster/nginx';
import { loadConfig } from '../../container/src/config/serving';
import { CATALOGUE, WORKER_FAILED_MESSAGE } from '../../container/src/errors';

const runDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ms-conf-'));

/** Every answer nginx writes itself: its status, body, and the catalogue code the location sets for the log. */
function nginxAnswers(conf: string): { status: number; body: any; code?: string }[] {
  return [...conf.matchAll(/(?:set \$model_server_error (\w+);[^']*?)?return (\d{3}) '(.*)\\n';/g)].map((m) => ({ code: m[1], status: Number(m[2]), body: JSON.parse(m[3]) }));
}

describe('nginx.conf rendering', () => {
  test('fills every placeholder from the settings', () => {
    const dir = runDir();
    const conf = renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: dir, MODEL_SERVER_WORKERS: '3', SAGEMAKER_BIND_TO_PORT: '9090', MODEL_SERVER_TIMEOUT: '12' }));
    expect(conf).not.toMatch(/\{\{/);
    expect(conf).toContain('listen 9090 backlog=4096;');
    // Two upstreams of the same workers: least_conn for /invocations, hash-by-model for /models/<name>/invoke.
    expect(conf.match(/server unix:/g)).toHaveLength(6);
    expect(conf).toContain(`server unix:${dir}/worker-2.sock max_fails=0;`);
    // nginx waits a little longer than the app, so the app's own 504 arrives first.
    expect(conf).toContain('proxy_read_timeout 17s;');
    expect(conf).toContain('client_max_body_size 6291456;');
    expect(conf).toContain(`pid ${dir}/nginx.pid;`);
  });

  test('runs as many nginx worker processes as MODEL_SERVER_NGINX_WORKERS says', () => {
    expect(renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: runDir(), MODEL_SERVER_NGINX_WORKERS: '3' }))).toMatch(/^worker_processes 3;$/m);
    expect(renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: runDir() }))).toMatch(/^worker_processes [1-9][0-9]*;$/m);
  });

  test('the payload limit is the same number in nginx and its 413 message; 0 lifts it', () => {
    const limited = renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: runDir(), SAGEMAKER_MAX_PAYLOAD_IN_MB: '20' }));
    expect(limited).toContain('client_max_body_size 20971520;');
    expect(limited).toContain('20 MB (20971520 bytes) limit');
    expect(renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: runDir(), SAGEMAKER_MAX_PAYLOAD_IN_MB: '0' }))).toContain('client_max_body_size 0;');
  });

  test('the real nginx accepts the rendered configuration (nginx -t)', () => {
    const config = loadConfig({ MODEL_SERVER_RUN_DIR: runDir(), SAGEMAKER_BIND_TO_PORT: '18999' });
    const conf = writeNginxConf(config);
    const result = spawnSync(findNginx('nginx', (process.env.PATH ?? '').split(':')), ['-t', '-c', conf, '-p', `${config.runDir}/`, '-e', 'stderr'], { encoding: 'utf8' });
    expect(result.stderr).toContain('test is successful');
    expect(result.status).toBe(0);
  });

  test('every answer nginx makes itself is JSON in the product shape, its code and status as the catalogue says', () => {
    const conf = renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: runDir() }));
    const answers = nginxAnswers(conf).filter((a) => typeof a.body.error !== 'string');
    expect(answers.map((a) => a.status).sort()).toEqual([400, 404, 405, 405, 413, 414, 431, 500, 501, 502, 503, 503, 504, 505]);
    for (const { status, body } of answers) {
      expect(Object.keys(body)).toEqual(['error']);
      expect(Object.keys(body.error)).toEqual(['code', 'message']);
      const known = (CATALOGUE as Record<string, { status: number }>)[body.error.code]?.status;
      expect({ code: body.error.code, status: known }).toEqual({ code: body.error.code, status });
    }
  });

  test("on the Open Inference Protocol's paths nginx answers in its shape, {\"error\": \"...\"}, with the catalogue's status", () => {
    const conf = renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: runDir() }));
    const answers = nginxAnswers(conf).filter((a) => typeof a.body.error === 'string');
    expect(answers.map((a) => a.status).sort()).toEqual([413, 500, 502, 503, 503, 504]);
    for (const { status, body, code } of answers) {
      expect(Object.keys(body)).toEqual(['error']);
      expect({ code, status: (CATALOGUE as Record<string, { status: number }>)[code!]?.status }).toEqual({ code, status });
    }
    // Every error page of the protocol's locations leads to an answer in its shape.
    const pages = [...conf.matchAll(/error_page \d+ (?:=\d* )?(\/_model_server_errors\/\S+);/g)].map((m) => m[1]).filter((p) => p.includes('/v2/'));
    expect(pages.length).toBeGreaterThan(0);
    for (const page of pages) expect(conf).toContain(`location = ${page} {`);
  });

  test('liveness is answered by nginx itself, 200 on GET and HEAD whatever the workers do', () => {
    const conf = renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: runDir() }));
    expect(conf).toMatch(/location = \/v2\/health\/live \{[\s\S]*?if \(\$request_method ~ \^\(GET\|HEAD\)\$\) \{\s*return 200 '\{"live":true\}';/);
  });

  test('a POST a worker may have received goes to another worker only marked as a retry, which checks the receipts', () => {
    const conf = renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: runDir() }));
    expect(conf).toMatch(/^\s*proxy_next_upstream error http_503;/m);
    // non_idempotent only in the locations that set the retry mark, which every worker request carries.
    const locations = [...conf.matchAll(/location (\S+) \{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}/g)];
    const passing = locations.filter(([, , body]) => /proxy_next_upstream .*non_idempotent/.test(body)).map(([, name, body]) => [name, /set \$model_server_retry 1;/.test(body)]);
    expect(passing).toEqual([['@again', true], ['@after_wait', true]]);
    expect(conf).toContain('proxy_set_header X-Model-Server-Retry $model_server_retry;');
    expect(conf).toContain('proxy_set_header X-Model-Server-Request $request_id;');
    // A worker that refuses a retry says what nginx says.
    expect(conf).toContain(`"code":"WORKER_FAILED","message":"${WORKER_FAILED_MESSAGE}"`);
  });

  test("the protocol's infer path is retried like /invocations, and what the retry cannot fix is answered in the protocol's shape", () => {
    const conf = renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: runDir() }));
    const oip = conf.match(/location ~ \^\/v2\/models\/[^\n]*\{([^}]*)\}/)![1];
    expect(oip).toContain('error_page 502 = @again;');
    expect(oip).toContain('set $model_server_again model_server;');
    expect(oip).toContain('set $model_server_error_shape /v2;');
    expect(oip).toContain('recursive_error_pages on;');
    // @again and @after_wait end at /_model_server_errors<shape>/502, which exists for both shapes.
    expect(conf.match(/error_page 502 = \/_model_server_errors\$model_server_error_shape\/502;/g)).toHaveLength(2);
    expect(conf).toContain('set $model_server_error_shape "";');
    for (const shape of ['', '/v2']) expect(conf).toContain(`location = /_model_server_errors${shape}/502 {`);
    expect(conf).toContain(`{"error":"${WORKER_FAILED_MESSAGE}"}`);
    // Multi-model: the holders' upstream, as /models/<name>/invoke.
    const multi = renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: runDir(), SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_WORKERS: '2' }));
    expect(multi.match(/location ~ \^\/v2\/models\/[^\n]*\{([^}]*)\}/)![1]).toContain('set $model_server_again model_holders;');
  });

  test("proxy mode: an X-Accel-Redirect from the user's scorer moves nothing inside nginx", () => {
    const conf = renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: runDir(), MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9000' }));
    const hop = conf.match(/listen unix:[^\n]*scorer-hop\.sock[\s\S]*?\n {4}\}\n/)![0];
    expect(hop).toMatch(/^\s*proxy_ignore_headers X-Accel-Redirect;/m);
    // Every location that talks to the scorer is inside the hop server.
    const scorerPasses = [...conf.matchAll(/proxy_pass http:\/\/scorer[/;{]/g)].length;
    expect([...hop.matchAll(/proxy_pass http:\/\/scorer[/;{]/g)].length).toBe(scorerPasses);
  });
});
