/**
 * Source layering of container/src (the runtime) and tools/src (development tools), checked by
 * dependency-cruiser (`npm run lint:deps`, and test/unit/architecture.test.ts as part of `npm test`).
 *
 * Type-only imports count (`tsPreCompilationDeps: true`): an `import type` still ties one layer to
 * another's vocabulary. Paths are relative to the directory depcruise runs in (the project root).
 * An npm package is matched both resolved (node_modules/<name>/...) and unresolved (the bare name).
 */
const pkg = (...names) => `(^|/)node_modules/(@types/)?(${names.join('|')})/|^(${names.join('|')})(/|$)`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'An import cycle (type-only imports included) means neither module can be understood, tested or ' +
        'moved without the other, and runtime cycles load half-initialised modules. Break it by moving the ' +
        'shared piece into a lower module both can import.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'runtime-no-tools',
      severity: 'error',
      comment:
        'tools/ (benches, soaks, fixture makers, the batch-transform emulator) is development code and is not ' +
        'in the image: the runtime must never import it.',
      from: { path: '^container/src/' },
      to: { path: '^tools/' },
    },
    {
      name: 'tools-use-the-build',
      severity: 'error',
      comment:
        'tools/ runs against the compiled runtime (container/dist, what the image ships), built first by ' +
        '`npm run build`; importing container/src would compile a second copy of the runtime into tools/dist.',
      from: { path: '^tools/src/' },
      to: { path: '^container/src/' },
    },
    {
      name: 'http-no-onnxruntime',
      severity: 'error',
      comment:
        'The HTTP layer runs in every cluster worker process; onnxruntime sessions live only in the piscina ' +
        'threads. http/ talks to models through the Model seam (models/) and plain data, never ' +
        'onnxruntime-node (not even its types) nor anything in inference/.',
      from: { path: '^container/src/http/' },
      to: {
        path: [pkg('onnxruntime-node'), '^container/src/inference/'],
      },
    },
    {
      name: 'models-is-the-seam',
      severity: 'error',
      comment:
        'models/ is the interface between the edge and whatever answers (the ONNX pool, with or without users\' ' +
        'code): it may name the vocabulary and errors, never an implementation or the edge.',
      from: { path: '^container/src/models/' },
      to: {
        path: [pkg('onnxruntime-node', 'piscina', 'express'), '^container/src/(http|inference|cluster|codecs)/'],
      },
    },
    {
      name: 'inference-no-http',
      severity: 'error',
      comment:
        'inference/ computes predictions and knows nothing of requests, responses or express. The two layers ' +
        'meet only through models/ (the Model seam and the Invocation the edge resolves): neither imports the ' +
        'other (http-no-onnxruntime is the other direction).',
      from: { path: '^container/src/inference/' },
      to: { path: '^container/src/http/' },
    },
    {
      name: 'config-no-codecs',
      severity: 'error',
      comment:
        'config/ reads the environment and is imported almost everywhere; depending on codecs/ drags the ' +
        'codec registry (and what it imports) into every module that only wants a setting.',
      from: { path: '^container/src/config/' },
      to: { path: '^container/src/codecs/' },
    },
    {
      name: 'cluster-no-http',
      severity: 'error',
      comment:
        'cluster/ supervises processes (primary, nginx, messages). Only cluster/worker.ts builds the HTTP ' +
        'server and may import http/; the primary must not load, or share types with, the HTTP layer.',
      from: { path: '^container/src/cluster/', pathNot: '^container/src/cluster/worker\\.ts$' },
      to: { path: '^container/src/http/' },
    },
    {
      name: 'upstream-below-cluster',
      comment:
        'upstream/ is proxy mode (the scorer process, its port, its health); the primary (cluster/) drives it. ' +
        'It never sees a request or a model (http/, inference/, models/, codecs/), never imports the cluster ' +
        'that uses it, and runs no ONNX, thread pool or express.',
      severity: 'error',
      from: { path: '^container/src/upstream/' },
      to: {
        path: [pkg('onnxruntime-node', 'piscina', 'express'), '^container/src/(http|inference|models|codecs|cluster)/'],
      },
    },
    {
      name: 'vocabulary-is-a-leaf',
      severity: 'error',
      comment:
        'vocabulary.ts holds the shared types (tensors, matrices, predictions, output keys, model ' +
        'description) every layer speaks; it must stay a leaf (node builtins only) so anything can import ' +
        'it without creating a cycle or a layering violation.',
      from: { path: '^container/src/vocabulary\\.ts$' },
      to: { dependencyTypesNot: ['core'] },
    },
    {
      name: 'codecs-no-runtime',
      severity: 'error',
      comment:
        'codecs/ are pure data transforms (bytes <-> rows/tensors) usable from tools, tests and threads ' +
        'alike; they must not pull in the runtime: onnxruntime-node, piscina, express, node:http, nor the ' +
        'http/, cluster/ or inference/ layers.',
      from: { path: '^container/src/codecs/' },
      to: {
        path: [pkg('onnxruntime-node', 'piscina', 'express'), '^(node:)?http$', '^container/src/(http|cluster|inference)/'],
      },
    },
    {
      name: 'metrics-below-the-edge',
      severity: 'error',
      comment:
        'metrics/ counts what the edge and the supervisor report (the worker\'s recorder, the primary\'s ' +
        'collector, the CloudWatch lines): it is given plain values and never reaches into the layers that report ' +
        'to it (http/, inference/, cluster/, codecs/), so the primary can use it without loading them.',
      from: { path: '^container/src/metrics/' },
      to: { path: '^container/src/(http|inference|cluster|codecs|upstream)/' },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules'] },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    // resolve like TypeScript/node: package.json "exports", "types" for type-only packages
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['main', 'types', 'typings'],
    },
  },
};
