// The benchmark's ceiling: the same rendered nginx.conf in front of a Node cluster with the same worker
// count, whose workers answer every request with a constant body. What nginx + Node can do on this machine.
import cluster from 'node:cluster';
import * as fs from 'node:fs';
import { loadConfig, workerSlot } from '../../container/dist/config/serving';
import { findNginx, startNginx, testNginxConf, writeNginxConf } from '../../container/dist/cluster/nginx';
import { createLogger } from '../../container/dist/logger';
import { runPaths } from '../../container/dist/paths';
import { constantAnswerServer } from './constant-answer';

const config = loadConfig();

if (cluster.isPrimary) {
  const logger = createLogger('warn', { role: 'ceiling' });
  fs.mkdirSync(config.runDir, { recursive: true, mode: 0o755 });
  const binary = findNginx(config.nginxBinary, config.searchPath);
  const conf = writeNginxConf(config);
  testNginxConf(binary, config, conf);
  let ready = 0;
  let nginx: ReturnType<typeof startNginx> | undefined;
  // As in serve: nginx starts once every worker listens.
  for (let slot = 0; slot < config.workers; slot++) {
    cluster.fork({ MODEL_SERVER_WORKER_SLOT: String(slot) }).on('message', () => {
      ready += 1;
      if (ready === config.workers) nginx = startNginx(binary, config, conf, logger);
    });
  }
  const stop = () => {
    if (nginx?.pid) process.kill(-nginx.pid, 'SIGQUIT');
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    setTimeout(() => process.exit(0), 300);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const socket = runPaths(config.runDir).workerSocket(workerSlot());
  fs.rmSync(socket, { force: true });
  const server = constantAnswerServer(65_000);
  server.listen({ path: socket, exclusive: true }, () => {
    fs.chmodSync(socket, 0o666);
    process.send?.('ready');
  });
}
