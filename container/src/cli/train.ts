// Entry point of `container/train`. Training algorithms are not built yet; this fails the SageMaker way
// (reason in output/failure, non-zero exit) rather than pretending to train.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../config';
import { createLogger } from '../logger';

const config = loadConfig();
const logger = createLogger(config.logLevel, { role: 'train' });
const reason = 'training is not implemented in this version of the image: bring a pre-trained model.onnx into /opt/ml/model and use `serve`';
try {
  const out = path.join(config.baseDir, 'output');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'failure'), reason);
} finally {
  logger.fatal(reason);
  process.exitCode = 1;
}
