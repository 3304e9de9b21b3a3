// Proxy mode's settings: MODEL_SERVER_UPSTREAM and its companions, each checked at start-up with a message
// naming the variable; the scorer's port when serve picks it; and the nginx configuration they render.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { findNginx, renderNginxConf, writeNginxConf } from '../../container/src/cluster/nginx';
import { loadConfig } from '../../container/src/config/serving';
import { CATALOGUE } from '../../container/src/errors';
import { resolveUpstream } from '../../container/src/upstream/address';
import { thrown } from '../helpers/errors';

const runDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ms-conf-'));
const errorOf = (env: Record<string, string>) => thrown(() => loadConfig(env));

describe('proxy-mode settings', () => {
  test('off unless MODEL_SERVER_UPSTREAM is set', () => {
    expect(loadConfig({}).upstream).toBeUndefined();
  });

  test('defaults: /invocations and /ping on the scorer, no command, two workers at most', () => {
    const c = loadConfig({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9090', MODEL_SERVER_RUN_DIR: '/tmp/ms-x' });
    expect(c.upstream).toMatchObject({ address: { kind: 'tcp', host: '127.0.0.1', port: 9090 }, invocationsPath: '/invocations', healthPath: '/ping', command: undefined, safePorts: undefined, tmpDir: '/tmp/ms-x/upstream-tmp' });
    expect(c.workers).toBeLessThanOrEqual(2);
    expect(loadConfig({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9090', MODEL_SERVER_WORKERS: '5' }).workers).toBe(5);
    expect(Object.isFrozen(c.upstream)).toBe(true);
  });

  test('a base path prefixes both paths; localhost is 127.0.0.1; unix sockets and IPv6 loopback are taken', () => {
    const c = loadConfig({ MODEL_SERVER_UPSTREAM: 'http://localhost:9090/SASScoring/', MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH: '/score', MODEL_SERVER_UPSTREAM_HEALTH_PATH: '/health?deep=1' });
    expect(c.upstream).toMatchObject({ address: { host: '127.0.0.1', port: 9090 }, invocationsPath: '/SASScoring/score', healthPath: '/SASScoring/health?deep=1' });
    expect(loadConfig({ MODEL_SERVER_UPSTREAM: 'unix:/run/scorer/http.sock' }).upstream!.address).toEqual({ kind: 'unix', path: '/run/scorer/http.sock' });
    expect(loadConfig({ MODEL_SERVER_UPSTREAM: 'http://[::1]:8000' }).upstream!.address).toEqual({ kind: 'tcp', host: '[::1]', port: 8000 });
  });

  test("the command's environment: serve's own, TMPDIR and java.io.tmpdir under the run directory (appended to JAVA_TOOL_OPTIONS)", () => {
    const c = loadConfig({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0', MODEL_SERVER_UPSTREAM_COMMAND: 'java -jar scorer.jar', MODEL_SERVER_RUN_DIR: '/tmp/ms-y', JAVA_TOOL_OPTIONS: '-Xmx2g', SAS_HOME: '/opt/sas' });
    expect(c.upstream!.command).toBe('java -jar scorer.jar');
    expect(c.upstream!.commandEnv).toMatchObject({ TMPDIR: '/tmp/ms-y/upstream-tmp', JAVA_TOOL_OPTIONS: '-Xmx2g -Djava.io.tmpdir=/tmp/ms-y/upstream-tmp', SAS_HOME: '/opt/sas' });
    expect(loadConfig({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0', MODEL_SERVER_UPSTREAM_COMMAND: 'x', MODEL_SERVER_RUN_DIR: '/tmp/ms-z' }).upstream!.commandEnv.JAVA_TOOL_OPTIONS).toBe('-Djava.io.tmpdir=/tmp/ms-z/upstream-tmp');
  });

  test('SAGEMAKER_SAFE_PORT_RANGE is read in proxy mode', () => {
    expect(loadConfig({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0', MODEL_SERVER_UPSTREAM_COMMAND: 'x', SAGEMAKER_SAFE_PORT_RANGE: '9000-9099' }).upstream!.safePorts).toEqual({ from: 9000, to: 9099 });
    // Outside proxy mode it is not used, so a value only proxy mode would refuse does not stop serve.
    expect(loadConfig({ SAGEMAKER_SAFE_PORT_RANGE: 'whatever' }).upstream).toBeUndefined();
  });

  test.each([
    [{ MODEL_SERVER_UPSTREAM: 'https://127.0.0.1:9090' }, /^MODEL_SERVER_UPSTREAM="https:\/\/127\.0\.0\.1:9090" is invalid: expected an http:\/\/ URL/],
    [{ MODEL_SERVER_UPSTREAM: 'http://scorer.internal:9090' }, /^MODEL_SERVER_UPSTREAM=.* expected a loopback address/],
    [{ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1' }, /^MODEL_SERVER_UPSTREAM=.* expected its port, such as http:\/\/127\.0\.0\.1:9090 \(or :0/],
    [{ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:99999' }, /^MODEL_SERVER_UPSTREAM=.* expected a port from 0 to 65535/],
    [{ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9090/a b' }, /^MODEL_SERVER_UPSTREAM=.* expected a base path/],
    [{ MODEL_SERVER_UPSTREAM: '127.0.0.1:9090' }, /^MODEL_SERVER_UPSTREAM=.* expected the scorer's base URL/],
    [{ MODEL_SERVER_UPSTREAM: 'unix:relative.sock' }, /^MODEL_SERVER_UPSTREAM=.* expected unix:\/absolute\/path\/to\.sock/],
    [{ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0' }, /^MODEL_SERVER_UPSTREAM="http:\/\/127\.0\.0\.1:0" has port 0 .* set MODEL_SERVER_UPSTREAM_COMMAND/],
    [{ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9090', MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH: 'score' }, /^MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH="score" is invalid: expected a path starting with \//],
    [{ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9090', MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH: '/score?x=1' }, /^MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH=.* without a query string/],
    [{ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9090', MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH: "/score';" }, /^MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH=/],
    [{ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9090', MODEL_SERVER_UPSTREAM_HEALTH_PATH: '/$health' }, /^MODEL_SERVER_UPSTREAM_HEALTH_PATH=/],
    [{ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0', MODEL_SERVER_UPSTREAM_COMMAND: 'x', SAGEMAKER_SAFE_PORT_RANGE: '9100-9000' }, /^SAGEMAKER_SAFE_PORT_RANGE="9100-9000" is invalid: expected a port range "FROM-TO"/],
    [{ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0', MODEL_SERVER_UPSTREAM_COMMAND: 'x', SAGEMAKER_SAFE_PORT_RANGE: '9000' }, /^SAGEMAKER_SAFE_PORT_RANGE=/],
    [{ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0', MODEL_SERVER_UPSTREAM_COMMAND: 'x', MODEL_SERVER_RUN_DIR: '/tmp/with space' }, /^MODEL_SERVER_RUN_DIR=.* without white space in proxy mode/],
    [{ MODEL_SERVER_UPSTREAM_COMMAND: 'java -jar scorer.jar' }, /^MODEL_SERVER_UPSTREAM_COMMAND is set, but MODEL_SERVER_UPSTREAM is not/],
    [{ MODEL_SERVER_UPSTREAM_HEALTH_PATH: '/health' }, /^MODEL_SERVER_UPSTREAM_HEALTH_PATH is set, but MODEL_SERVER_UPSTREAM is not/],
    [{ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9090', SAGEMAKER_MULTI_MODEL: 'true' }, /^MODEL_SERVER_UPSTREAM \(proxy mode\) and SAGEMAKER_MULTI_MODEL=true cannot be combined/],
  ])('refuses %j naming the variable', (env, message) => {
    const err = errorOf(env);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toMatch(message);
  });
});

describe("the scorer's port", () => {
  const proxy = (env: Record<string, string>) => loadConfig({ MODEL_SERVER_UPSTREAM_COMMAND: 'x', MODEL_SERVER_RUN_DIR: runDir(), ...env });

  test('port 0: a free port from SAGEMAKER_SAFE_PORT_RANGE, never the public port', async () => {
    for (let i = 0; i < 5; i++) {
      const { config } = await resolveUpstream(proxy({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0', SAGEMAKER_SAFE_PORT_RANGE: '23410-23412', SAGEMAKER_BIND_TO_PORT: '23411' }));
      const port = (config.upstream!.address as { port: number }).port;
      expect([23410, 23412]).toContain(port);
    }
  });

  test('port 0 without a range: any free port; a range with every port taken is UPSTREAM_FAILED', async () => {
    const { config } = await resolveUpstream(proxy({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0' }));
    expect((config.upstream!.address as { port: number }).port).toBeGreaterThan(0);
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as net.AddressInfo).port;
    try {
      const err = await resolveUpstream(proxy({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0', SAGEMAKER_SAFE_PORT_RANGE: `${taken}-${taken}` })).then(() => undefined, (e: { code: string; message: string }) => e);
      expect(err).toMatchObject({ code: 'UPSTREAM_FAILED', message: `no free port for the scorer in SAGEMAKER_SAFE_PORT_RANGE=${taken}-${taken} (every port of it is in use)` });
      // A fixed port serve does not start anything on is not checked: the scorer is already there.
      expect((await resolveUpstream(proxy({ MODEL_SERVER_UPSTREAM: `http://127.0.0.1:${taken}`, MODEL_SERVER_UPSTREAM_COMMAND: '' }))).warning).toBeUndefined();
    } finally {
      holder.close();
    }
  });
});

describe('proxy-mode nginx.conf', () => {
  const render = (env: Record<string, string>) => renderNginxConf(loadConfig({ MODEL_SERVER_RUN_DIR: runDir(), ...env }));

  test('invocations go to the scorer through the hop; nothing of proxy mode is rendered without it', () => {
    const conf = render({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9090/sas', MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH: '/score', MODEL_SERVER_TIMEOUT: '1.5' });
    expect(conf).not.toMatch(/\{\{/);
    expect(conf).toContain('server 127.0.0.1:9090 max_fails=0;');
    expect(conf).toContain('proxy_pass http://scorer/sas/score;');
    expect(conf).toContain('proxy_read_timeout 1500ms;');
    expect(conf).toContain('proxy_set_header Host 127.0.0.1:9090;');
    const publicLayer = conf.slice(conf.indexOf('location = /invocations {'), conf.indexOf('location = /_model_server_chunked {'));
    expect(publicLayer).toMatch(/proxy_intercept_errors on;\s*error_page 300 301 302 303 305 307 308 = \/_model_server_errors\/redirect;\s*proxy_pass http:\/\/scorer_hop\/_model_server_scorer;/);
    // It answers nothing itself: the hop enforces the payload limit.
    expect(publicLayer).toContain('client_max_body_size 0;');
    const onnx = render({});
    expect(onnx).not.toMatch(/scorer|model_server_request|location = \/invocations/);
    expect(render({ MODEL_SERVER_UPSTREAM: 'unix:/tmp/s.sock' })).toContain('server unix:/tmp/s.sock max_fails=0;');
  });

  test('the hop never intercepts the scorer\'s answers, so its 4xx and 5xx keep their bodies', () => {
    const conf = render({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9090' });
    const scorerLocation = /location = \/_model_server_scorer \{([^}]*)\}/.exec(conf)![1];
    expect(scorerLocation).not.toMatch(/intercept/);
    expect(conf.match(/proxy_intercept_errors on;/g)).toHaveLength(2);
  });

  test('LOG_LEVEL decides which request lines nginx writes', () => {
    const levels = (level: string) => /map \$model_server_log_level \$model_server_log_on \{([^}]*)\}/.exec(render({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9090', LOG_LEVEL: level }))![1].match(/(\w+) 1;/g);
    expect(levels('info')).toEqual(['info 1;', 'warn 1;', 'error 1;']);
    expect(levels('warn')).toEqual(['warn 1;', 'error 1;']);
    expect(levels('debug')).toEqual(['debug 1;', 'info 1;', 'warn 1;', 'error 1;']);
    expect(levels('silent')).toBeNull();
  });

  test('every answer nginx makes itself in proxy mode is JSON in the product shape, with the catalogue\'s status', () => {
    const conf = render({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:9090' });
    // (the Open Inference Protocol's own shape, on its paths, is checked in nginx-conf.test.ts)
    const answers = [...conf.matchAll(/return (\d{3}) '(.*)\\n';/g)].map((m) => ({ status: Number(m[1]), body: JSON.parse(m[2]) })).filter((a) => typeof a.body.error !== 'string');
    const codes = answers.map((a) => a.body.error.code);
    expect(codes).toEqual(expect.arrayContaining(['UPSTREAM_CONNECTION_FAILED', 'UPSTREAM_REDIRECT', 'TIMEOUT', 'PAYLOAD_TOO_LARGE', 'INVALID_PARAMETER']));
    for (const { status, body } of answers) {
      expect(Object.keys(body.error)).toEqual(['code', 'message']);
      expect({ code: body.error.code, status: (CATALOGUE as Record<string, { status: number }>)[body.error.code]?.status }).toEqual({ code: body.error.code, status });
    }
  });

  test.each([['tcp', 'http://127.0.0.1:9090'], ['unix socket', 'unix:/tmp/scorer.sock']])('the real nginx accepts it (nginx -t), %s', (_kind, upstream) => {
    const config = loadConfig({ MODEL_SERVER_RUN_DIR: runDir(), SAGEMAKER_BIND_TO_PORT: '18998', MODEL_SERVER_UPSTREAM: upstream });
    const conf = writeNginxConf(config);
    const result = spawnSync(findNginx('nginx', (process.env.PATH ?? '').split(':')), ['-t', '-c', conf, '-p', `${config.runDir}/`, '-e', 'stderr'], { encoding: 'utf8' });
    expect(result.stderr).toContain('test is successful');
    expect(result.status).toBe(0);
  });

  test('port 0 must be resolved before rendering', () => {
    expect(() => render({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0', MODEL_SERVER_UPSTREAM_COMMAND: 'x' })).toThrow(/port must be chosen/);
  });
});
