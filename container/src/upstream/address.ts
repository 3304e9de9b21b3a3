// Proxy mode: the scorer's address as people read it, and the port serve picks for a scorer it starts
// (MODEL_SERVER_UPSTREAM with port 0), from SAGEMAKER_SAFE_PORT_RANGE when the platform set one.
import * as net from 'node:net';
import type { UpstreamAddress, UpstreamConfig } from '../config/proxy';
import type { Config } from '../config/serving';
import { ServerError } from '../errors';

/** The scorer's URL for `path`, as logs and error messages name it. */
export function upstreamUrl(address: UpstreamAddress, path = ''): string {
  return address.kind === 'unix' ? `unix:${address.path}${path ? ` ${path}` : ''}` : `http://${address.host}:${address.port}${path}`;
}

/** Whether a TCP port can be bound on `host` right now. */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host: host.replace(/^\[|\]$/g, ''), port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** A free port of `range` (the public port excluded), tried from a random start so that two servers rarely collide. */
async function freePortIn(host: string, range: { from: number; to: number }, exclude: number): Promise<number | undefined> {
  const size = range.to - range.from + 1;
  const start = Math.floor(Math.random() * size);
  for (let i = 0; i < size; i++) {
    const port = range.from + ((start + i) % size);
    if (port !== exclude && (await portFree(host, port))) return port;
  }
  return undefined;
}

/** A port the operating system considers free. */
function anyFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ host: host.replace(/^\[|\]$/g, ''), port: 0 }, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export interface ResolvedUpstream {
  /** The settings with the scorer's port decided (port 0 replaced). */
  config: Config;
  /** Something worth a warning line (a fixed port outside SAGEMAKER_SAFE_PORT_RANGE). */
  warning?: string;
}

/**
 * Decides the scorer's port before anything starts: port 0 becomes a free port (of SAGEMAKER_SAFE_PORT_RANGE
 * when set); a fixed port that serve's own command will listen on must be free, or the command would fail
 * to start for a reason its log may not make plain (another container of a pipeline may hold it).
 */
export async function resolveUpstream(config: Config): Promise<ResolvedUpstream> {
  const upstream = config.upstream;
  if (!upstream || upstream.address.kind !== 'tcp') return { config };
  const { host, port } = upstream.address;
  const range = upstream.safePorts;
  const rangeText = range ? `SAGEMAKER_SAFE_PORT_RANGE=${range.from}-${range.to}` : undefined;
  if (port !== 0) {
    if (upstream.command !== undefined && !(await portFree(host, port))) {
      throw new ServerError('UPSTREAM_FAILED', `the scorer's port ${host}:${port} (MODEL_SERVER_UPSTREAM) is already in use by another process, so MODEL_SERVER_UPSTREAM_COMMAND could not listen on it; let serve choose a free port with MODEL_SERVER_UPSTREAM=http://${host}:0 (the command gets it as $MODEL_SERVER_UPSTREAM_PORT)`);
    }
    const outside = range && (port < range.from || port > range.to);
    return { config, warning: outside ? `the scorer's port ${port} (MODEL_SERVER_UPSTREAM) is outside ${rangeText}, the ports SageMaker keeps free for this container; another container may need it. Use port 0 to let serve choose one in the range` : undefined };
  }
  const chosen = range ? await freePortIn(host, range, config.port) : await anyFreePort(host);
  if (chosen === undefined) throw new ServerError('UPSTREAM_FAILED', `no free port for the scorer in ${rangeText} (every port of it is in use)`);
  const resolved: UpstreamConfig = Object.freeze({ ...upstream, address: Object.freeze({ ...upstream.address, port: chosen }) });
  return { config: Object.freeze({ ...config, upstream: resolved }) };
}
