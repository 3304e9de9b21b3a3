// Proxy mode's settings: MODEL_SERVER_UPSTREAM (the scorer's address) and its companions, checked and
// resolved into what nginx.conf and the scorer's supervision need.
import { ServerError } from '../errors';
import { runPaths } from '../paths';
import { fail, pick, type Env } from './env';
import { usableCpus } from './host';

/** Where the scorer listens: TCP on loopback (port 0: serve picks one when it starts the scorer), or a unix socket. */
export type UpstreamAddress = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

export interface UpstreamConfig {
  /** MODEL_SERVER_UPSTREAM: the scorer's address (its base path is folded into the two paths below). */
  readonly address: UpstreamAddress;
  /** MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH under the base URL: where POST /invocations is forwarded. */
  readonly invocationsPath: string;
  /** MODEL_SERVER_UPSTREAM_HEALTH_PATH under the base URL: what GET /ping asks (2xx = healthy). */
  readonly healthPath: string;
  /** MODEL_SERVER_UPSTREAM_COMMAND: the scorer's start command (run with /bin/sh -c), when serve starts it. */
  readonly command: string | undefined;
  /** SAGEMAKER_SAFE_PORT_RANGE: the ports a port chosen by serve must come from. */
  readonly safePorts: { readonly from: number; readonly to: number } | undefined;
  /** The scorer's writable temporary directory: MODEL_SERVER_RUN_DIR/upstream-tmp. */
  readonly tmpDir: string;
  /** The command's environment: serve's own, with TMPDIR and the JVM's java.io.tmpdir pointing at tmpDir. */
  readonly commandEnv: Readonly<Record<string, string>>;
  /** What /execution-parameters reports as MaxConcurrentTransforms unless the job set it: the usable CPUs. */
  readonly concurrency: number;
}

const UPSTREAM_COMPANIONS = ['MODEL_SERVER_UPSTREAM_COMMAND', 'MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH', 'MODEL_SERVER_UPSTREAM_HEALTH_PATH'];
const LOOPBACK = /^(127(?:\.\d{1,3}){3}|localhost|\[::1\])$/i;
/** Characters a path may hold: they are written into nginx.conf, so no quotes, spaces, braces, semicolons or `$`. */
const URL_PATH = /^\/[A-Za-z0-9\-._~%!&()*+,=:@/]*$/;
const HEALTH_PATH = /^\/[A-Za-z0-9\-._~%!&()*+,=:@/?]*$/;

function invalid(message: string): never {
  throw new ServerError('CONFIG_INVALID', message);
}

function upstreamAddress(value: string): { address: UpstreamAddress; basePath: string } {
  const name = 'MODEL_SERVER_UPSTREAM';
  const unix = /^unix:(.*)$/.exec(value);
  if (unix) {
    const socket = unix[1];
    if (!/^\/[A-Za-z0-9\-._/]+$/.test(socket)) fail(name, value, 'unix:/absolute/path/to.sock (letters, digits, - . _ / only)');
    if (Buffer.byteLength(socket) > 107) fail(name, value, 'a unix socket path of at most 107 bytes');
    return { address: { kind: 'unix', path: socket }, basePath: '' };
  }
  const url = /^([a-z]+):\/\/([^/:]+|\[[^\]]*\])(?::(\d*))?(\/.*)?$/i.exec(value);
  if (!url) fail(name, value, "the scorer's base URL, http://127.0.0.1:PORT[/base/path], or unix:/path/to.sock");
  const [, scheme, host, port, base = ''] = url;
  if (scheme.toLowerCase() !== 'http') fail(name, value, 'an http:// URL (the scorer runs in this container: TLS on loopback adds nothing), or unix:/path/to.sock');
  if (!LOOPBACK.test(host)) fail(name, value, 'a loopback address (127.0.0.1, localhost or [::1]) or unix:/path/to.sock: the scorer runs in this container');
  if (port === undefined || port === '') fail(name, value, `its port, such as http://${host}:9090 (or :0 to let serve choose one, with MODEL_SERVER_UPSTREAM_COMMAND)`);
  if (Number(port) > 65535) fail(name, value, 'a port from 0 to 65535');
  if (base !== '' && !URL_PATH.test(base)) fail(name, value, 'a base path of letters, digits and - . _ ~ % ! & ( ) * + , = : @ / only (no query string)');
  // nginx would resolve "localhost" to both 127.0.0.1 and ::1 and send half the requests where nothing listens.
  const address: UpstreamAddress = { kind: 'tcp', host: host.toLowerCase() === 'localhost' ? '127.0.0.1' : host, port: Number(port) };
  return { address, basePath: base.replace(/\/+$/, '') };
}

function upstreamPath(env: Env, name: string, fallback: string, pattern: RegExp, expected: string): string {
  const found = pick(env, name);
  if (!found) return fallback;
  if (!pattern.test(found.value)) fail(name, found.value, expected);
  return found.value;
}

/** SAGEMAKER_SAFE_PORT_RANGE, "XXXX-YYYY" inclusive (read in proxy mode only, where serve may pick a port). */
function safePortRange(env: Env): UpstreamConfig['safePorts'] {
  const found = pick(env, 'SAGEMAKER_SAFE_PORT_RANGE');
  if (!found) return undefined;
  const m = /^(\d{1,5})\s*-\s*(\d{1,5})$/.exec(found.value);
  const from = Number(m?.[1]);
  const to = Number(m?.[2]);
  if (!m || from < 1 || to > 65535 || from > to) fail(found.name, found.value, 'a port range "FROM-TO" with 1 <= FROM <= TO <= 65535');
  return { from, to };
}

export function upstreamSettings(env: Env, runDir: string, multiModel: boolean): UpstreamConfig | undefined {
  const url = pick(env, 'MODEL_SERVER_UPSTREAM');
  if (!url) {
    const orphan = UPSTREAM_COMPANIONS.find((name) => pick(env, name));
    if (orphan) invalid(`${orphan} is set, but MODEL_SERVER_UPSTREAM is not: set MODEL_SERVER_UPSTREAM to the scorer's URL (http://127.0.0.1:PORT or unix:/path/to.sock) to turn on proxy mode`);
    return undefined;
  }
  if (multiModel) invalid('MODEL_SERVER_UPSTREAM (proxy mode) and SAGEMAKER_MULTI_MODEL=true cannot be combined: proxy mode fronts one scoring server at POST /invocations');
  const { address, basePath } = upstreamAddress(url.value);
  const pathRule = 'a path starting with / (letters, digits and - . _ ~ % ! & ( ) * + , = : @ / only)';
  const invocationsPath = basePath + upstreamPath(env, 'MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH', '/invocations', URL_PATH, `${pathRule}, without a query string`);
  const healthPath = basePath + upstreamPath(env, 'MODEL_SERVER_UPSTREAM_HEALTH_PATH', '/ping', HEALTH_PATH, `${pathRule}, and ? for a query string`);
  const command = pick(env, 'MODEL_SERVER_UPSTREAM_COMMAND')?.value;
  if (address.kind === 'tcp' && address.port === 0 && command === undefined) {
    invalid(`MODEL_SERVER_UPSTREAM=${JSON.stringify(url.value)} has port 0 (serve chooses the port), which works only when serve starts the scorer: set MODEL_SERVER_UPSTREAM_COMMAND, which gets the port as $MODEL_SERVER_UPSTREAM_PORT`);
  }
  const tmpDir = runPaths(runDir).upstreamTmp;
  // JAVA_TOOL_OPTIONS is split at white space.
  if (command !== undefined && /\s/.test(tmpDir)) fail('MODEL_SERVER_RUN_DIR', runDir, 'a path without white space in proxy mode (the scorer\'s temporary directory, inside it, goes into JAVA_TOOL_OPTIONS)');
  const inherited = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  const javaOptions = [inherited.JAVA_TOOL_OPTIONS?.trim(), `-Djava.io.tmpdir=${tmpDir}`].filter(Boolean).join(' ');
  return Object.freeze({
    address: Object.freeze(address),
    invocationsPath,
    healthPath,
    command,
    safePorts: safePortRange(env),
    tmpDir,
    commandEnv: Object.freeze({ ...inherited, TMPDIR: tmpDir, JAVA_TOOL_OPTIONS: javaOptions }),
    concurrency: usableCpus(),
  });
}
