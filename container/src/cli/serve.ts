// Entry point of `container/serve`: the cluster primary, or (when forked) one worker process.
import cluster from 'node:cluster';
import { loadConfig, type Config } from '../config/serving';
import { ServerError } from '../errors';
import { createLogger } from '../logger';
import { runPrimary } from '../cluster/primary';
import { runWorker } from '../cluster/worker';

let config: Config;
try {
  config = loadConfig(process.env, process.argv.slice(2));
} catch (err) {
  const logger = createLogger('info');
  if (err instanceof ServerError) logger.fatal({ code: err.code }, err.message);
  else logger.fatal({ code: 'INTERNAL_ERROR' }, String(err));
  process.exit(2);
}

if (cluster.isPrimary) {
  runPrimary(config, createLogger(config.logLevel, { role: 'primary' }));
} else {
  void runWorker(config, createLogger(config.logLevel, { role: 'worker' }));
}
