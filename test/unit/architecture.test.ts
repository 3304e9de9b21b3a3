/**
 * Source layering: container/src must obey the rules in .dependency-cruiser.cjs (import cycles, and which
 * layer may import which; type-only imports count). `npm run lint:deps` prints the same report.
 *
 * dependency-cruiser's JS API is ESM-only, which ts-jest's CommonJS cannot load, so this runs its CLI
 * with --output-type json and reads the report.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

interface Violation {
  type: string;
  from: string;
  to: string;
  rule: { name: string; severity: string };
  cycle?: Array<{ name: string } | string>;
}
interface Report {
  modules: Array<{ source: string; dependencies: Array<{ module: string; resolved: string; couldNotResolve: boolean }> }>;
  summary: { violations: Violation[]; error: number };
}

/** Runs depcruise with the project's config on container/src and tools/src of `cwd`; paths in the report are relative to `cwd`. */
function cruise(cwd: string): Report {
  const run = spawnSync(process.execPath, [DEPCRUISE, '--config', CONFIG, '--output-type', 'json', 'container/src', 'tools/src'], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  // The exit status is the number of errors, so it is not a failure by itself; unparseable output is.
  try {
    return JSON.parse(run.stdout) as Report;
  } catch {
    throw new Error(`depcruise produced no report (status ${run.status}, ${run.error ?? ''}):\n${run.stderr}`);
  }
}

/** The modules of a cycle violation in order, starting and ending at `from` (depcruise >= 16 gives {name}s). */
function cyclePath(v: Violation): string[] {
  return [v.from, ...(v.cycle ?? []).map((step) => (typeof step === 'string' ? step : step.name))];
}

function describeViolation(v: Violation): string {
  const line = `${v.rule.name}: ${v.from} → ${v.to}`;
  return v.cycle?.length ? `${line}  (cycle: ${cyclePath(v).join(' → ')})` : line;
}

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('source layering', () => {
  test('container/src and tools/src have no import cycles and respect the layer rules (.dependency-cruiser.cjs)', () => {
    const report = cruise(ROOT);

    // The rules only see what depcruise resolves: every source file is cruised and every relative import resolves.
    const cruised = new Set(report.modules.map((m) => m.source));
    const missing = tsFiles(path.join(ROOT, 'container/src'))
      .map((file) => path.relative(ROOT, file).split(path.sep).join('/'))
      .filter((file) => !cruised.has(file));
    expect(missing).toEqual([]);
    const unresolved = report.modules.flatMap((m) =>
      m.dependencies.filter((d) => d.couldNotResolve && d.module.startsWith('.')).map((d) => `${m.source} → ${d.module}`),
    );
    expect(unresolved).toEqual([]);

    const violations = report.summary.violations.map(describeViolation);
    if (violations.length > 0) {
      throw new Error(
        `${violations.length} dependency violation(s); the rules and why are in .dependency-cruiser.cjs ` +
          `(\`npm run lint:deps\` prints them too):\n  ${violations.join('\n  ')}`,
      );
    }
  });

  describe('the checker is live', () => {
    let fixture: string;

    beforeAll(() => {
      fixture = fs.mkdtempSync(path.join(os.tmpdir(), 'depcruise-fixture-'));
      const files: Record<string, string> = {
        // a cycle through a type-only import
        'container/src/a.ts': "import { b } from './b';\nexport const a = b + 1;\n",
        'container/src/b.ts': "import type { A } from './c';\nexport const b: A = 1;\n",
        'container/src/c.ts': "import type { a } from './a';\nexport type A = typeof a;\n",
        // http/ imports onnxruntime-node (types only still counts) and a thread-side inference module
        'container/src/http/app.ts':
          "import type { InferenceSession } from 'onnxruntime-node';\nimport { run } from '../inference/thread';\n" +
          'export type Session = InferenceSession;\nexport const handle = run;\n',
        'container/src/inference/thread.ts': 'export const run = () => 1;\n',
        // inference/ imports http/
        'container/src/inference/pool.ts': "import type { Session } from '../http/app';\nexport const pool = (s?: Session) => s;\n",
        // cluster/worker.ts may import http/; the rest of cluster/ may not
        'container/src/cluster/worker.ts': "import { handle } from '../http/app';\nexport const serve = handle;\n",
        'container/src/cluster/primary.ts': "import type { Session } from '../http/app';\nexport let s: Session | undefined;\n",
        // config/ imports codecs/; codecs/ import runtime modules
        'container/src/config/serving.ts': "import { parse } from '../codecs/csv';\nexport const config = parse;\n",
        'container/src/codecs/csv.ts':
          "import * as http from 'node:http';\nimport { Piscina } from 'piscina';\nimport * as fs from 'node:fs';\n" +
          'export const parse = [http, Piscina, fs];\n',
        // upstream/ (proxy mode) is driven by cluster/ and never reaches into the edge, the models or the cluster
        'container/src/upstream/health.ts': "import { run } from '../inference/thread';\nimport { s } from '../cluster/primary';\nexport const h = [run, s];\n",
        // the runtime never imports the development tools; the tools use the built runtime, not its source
        'container/src/paths.ts': "import { bench } from '../../tools/src/bench';\nexport const p = bench;\n",
        'tools/src/bench.ts': "import { v } from '../../container/src/vocabulary';\nexport const bench = v;\n",
        // vocabulary.ts may import node builtins only
        'container/src/vocabulary.ts': "import * as path from 'node:path';\nimport { config } from './config/serving';\nexport const v = [path, config];\n",
      };
      for (const [name, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(fixture, name)), { recursive: true });
        fs.writeFileSync(path.join(fixture, name), text);
      }
      fs.copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(fixture, 'tsconfig.json'));
      // packages resolve exactly as in the project
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(fixture, 'node_modules'), 'dir');
    });

    afterAll(() => {
      if (fixture) fs.rmSync(fixture, { recursive: true, force: true });
    });

    test('reports every rule on a fixture tree that breaks them', () => {
      // depcruise reports a cycle once, from whichever member it reaches first: compare the cycle's members
      const found = cruise(fixture).summary.violations.map((v) =>
        v.cycle?.length
          ? `${v.rule.name}: ${[...new Set(cyclePath(v))].sort().join(', ')}`
          : `${v.rule.name}: ${v.from} → ${v.to.replace(/^.*node_modules\//, '')}`,
      );
      expect([...new Set(found)].sort()).toEqual(
        [
          'no-circular: container/src/a.ts, container/src/b.ts, container/src/c.ts',
          'http-no-onnxruntime: container/src/http/app.ts → onnxruntime-node/dist/index.js',
          'http-no-onnxruntime: container/src/http/app.ts → container/src/inference/thread.ts',
          'inference-no-http: container/src/inference/pool.ts → container/src/http/app.ts',
          'cluster-no-http: container/src/cluster/primary.ts → container/src/http/app.ts',
          'config-no-codecs: container/src/config/serving.ts → container/src/codecs/csv.ts',
          'codecs-no-runtime: container/src/codecs/csv.ts → http',
          'codecs-no-runtime: container/src/codecs/csv.ts → piscina/dist/index.d.ts',
          'vocabulary-is-a-leaf: container/src/vocabulary.ts → container/src/config/serving.ts',
          'upstream-below-cluster: container/src/upstream/health.ts → container/src/inference/thread.ts',
          'upstream-below-cluster: container/src/upstream/health.ts → container/src/cluster/primary.ts',
          'runtime-no-tools: container/src/paths.ts → tools/src/bench.ts',
          'tools-use-the-build: tools/src/bench.ts → container/src/vocabulary.ts',
        ].sort(),
      );
    });
  });
});
