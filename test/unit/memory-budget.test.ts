// The multi-model memory budget's shares (cluster/memory.ts): what a model is expected to take, from its
// file before it loads. The figures behind them are measured by npm run bench:memory (docs/multi-model.md).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { modelShare, modelWeight } from '../../container/src/cluster/memory';
import { treeEnsembleModel } from '../../tools/src/tree-model';
import { linearModel } from '../helpers/models';

const MB = 2 ** 20;
const write = (bytes: Uint8Array) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ms-share-')), 'model.onnx');
  fs.writeFileSync(file, bytes);
  return file;
};
const size = (file: string) => fs.statSync(file).size;

describe('a model\'s share of the memory budget', () => {
  test('tensor weights count about once and a half, tree ensembles fourteen times (onnxruntime builds its trees from them), plus each session\'s own 20 MB', () => {
    const linear = modelWeight(write(linearModel([1, 2, 3], 0)), size);
    expect(linear.trees).toBe(false);
    const forest = modelWeight(write(treeEnsembleModel({ trees: 20, depth: 4 })), size);
    expect(forest.trees).toBe(true);
    expect(modelShare({ fileBytes: 64 * MB, trees: false }, 1, 1)).toBe(116 * MB);
    expect(modelShare({ fileBytes: 8 * MB, trees: true }, 1, 1)).toBe(132 * MB);
    expect(modelShare(forest, 1, 1)).toBe(Math.ceil(14 * forest.fileBytes + 20 * MB));
  });

  test('every thread of every worker holding the model has its own session', () => {
    const one = modelShare({ fileBytes: 10 * MB, trees: false }, 1, 1);
    expect(modelShare({ fileBytes: 10 * MB, trees: false }, 2, 3)).toBe(6 * one);
  });

  test("a model that may run on the workers' own threads holds one more session in each holder, without a thread's 20 MB", () => {
    expect(modelShare({ fileBytes: 10 * MB, trees: false }, 2, 1, true) - modelShare({ fileBytes: 10 * MB, trees: false }, 2, 1)).toBe(2 * (15 * MB + 4 * MB));
    expect(modelShare({ fileBytes: 1 * MB, trees: true }, 1, 3, true) - modelShare({ fileBytes: 1 * MB, trees: true }, 1, 3)).toBe(14 * MB + 4 * MB);
  });

  test('a folder whose code loads its own files (no .onnx) counts its sessions only; an unreadable file by its size', () => {
    expect(modelShare(modelWeight(undefined, size), 1, 2)).toBe(40 * MB);
    const junk = write(new Uint8Array(1000).fill(0xff));
    expect(modelWeight(junk, size)).toEqual({ fileBytes: 1000, trees: false });
  });
});
