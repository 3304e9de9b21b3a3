// Rebuilds the bundled example model: runs `train` on local-test/test-dir (the iris data and its
// hyperparameters.json), so the example is exactly what the product trains. Deterministic.
import * as path from 'node:path';
import { createLogger } from '../../container/dist/logger';
import { runTraining } from '../../container/dist/train/run';

export const EXAMPLE_BASE = path.resolve(__dirname, '../../local-test/test-dir');

if (require.main === module) {
  void runTraining(EXAMPLE_BASE, createLogger('info', { role: 'example-model' }), () => false).then(
    () => console.log(`wrote ${path.join(EXAMPLE_BASE, 'model')}`),
    (err) => {
      console.error(String(err?.message ?? err));
      process.exitCode = 1;
    },
  );
}
