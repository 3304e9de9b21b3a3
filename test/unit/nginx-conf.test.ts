import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findNginx, renderNginxConf, writeNginxConf } from '../../container/src/cluster/nginx';
import { loadConfig } from '../../container/src/config/serving';
import { CATALOGUE } from '../../container/src/errors';

const runDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ms-conf-'));

/** Every answer nginx writes itself: its status, body, and the catalogue code the location sets for the log. */
function nginxAnswers(conf: string): { status: number; body: any; code?: string }[] {
  return [...conf.matchAll(/(?:set \$model_server_error (\w+);\s*)?return (\d{3}) '(.*)\\n';/g)].map((m) => ({ code: m[1], status: Number(m[2]), body: JSON.parse(m[3]) }));
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

  test('a POST a worker has received is never passed to another worker', () => {
    const conf = renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: runDir() }));
    expect(conf).toMatch(/^\s*proxy_next_upstream error http_503;/m);
    expect(conf).not.toMatch(/^\s*proxy_next_upstream .*non_idempotent/m);
  });
});
