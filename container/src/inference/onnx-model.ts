// An ONNX model as the edge sees it (the Model seam): a pool of inference threads that each hold an
// onnxruntime session of it, and the media types the built-in codecs read and write for it.
import { mediaTypes } from '../codecs/registry';
import type { Logger } from '../logger';
import type { Answer, Invocation, Model, ModelSpec } from '../models/model';
import type { BodyMemory } from '../shared-bodies';
import type { ModelDescription } from '../vocabulary';
import { InferencePool } from './pool';

export interface OnnxModelOptions {
  threads: number;
  intraOpThreads: number;
  maxQueue: number;
  maxBatch: number;
  timeoutMs: number;
  bodies?: BodyMemory;
  logger: Logger;
}

export class OnnxModel implements Model {
  readonly name: string;
  private readonly pool: InferencePool;
  private readonly loaded: Promise<ModelDescription>;
  private description: ModelDescription | undefined;

  constructor(spec: ModelSpec, options: OnnxModelOptions) {
    this.name = spec.name;
    const { threads, intraOpThreads, maxQueue, maxBatch, timeoutMs, bodies, logger } = options;
    this.pool = new InferencePool({
      init: { name: spec.name, modelFile: spec.modelFile, modelJsonFile: spec.modelJsonFile, intraOpThreads },
      threads,
      maxQueue,
      maxBatch,
      timeoutMs,
      bodies,
      logger: logger.child({ model: spec.name }),
    });
    this.loaded = this.pool.ready().then((model) => {
      this.description = { ...model, name: spec.name, ...mediaTypes() };
      return this.description;
    });
    this.loaded.catch(() => undefined);
  }

  ready(): Promise<ModelDescription> {
    return this.loaded;
  }

  describe(): ModelDescription | undefined {
    return this.description;
  }

  invoke(invocation: Invocation, signal?: AbortSignal): Promise<Answer> {
    return this.pool.invoke(invocation, signal);
  }

  close(waitMs = 0): Promise<void> {
    return this.pool.close(waitMs);
  }
}
