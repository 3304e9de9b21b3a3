// The multi-model API's table, in the primary: which models are loaded, loading or unloading, from where,
// and whether memory allows another (each model's share of the budget, memory.ts). Loads and unloads are
// carried out by the Supervisor on the workers that hold each model (cluster/routing.ts decides which, the
// way nginx routes invocations).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MODEL_NAME, type Config } from '../config/serving';
import { ServerError, withMessage, type WireError } from '../errors';
import type { Logger } from '../logger';
import type { MetricsCollector } from '../metrics/collector';
import type { ControlReply, ControlRequest, LoadedModel } from '../models/control';
import { codeDirOf, modelFolder } from '../paths';
import { treeMemoryBytes } from '../processes';
import { modelShare, modelWeight, RUNTIME_BYTES, treeWeight } from './memory';
import { inlineSizeRefusal } from '../vocabulary';
import { holderSlots } from './routing';
import type { Supervisor } from './supervisor';


interface Entry {
  url: string;
  state: 'loading' | 'loaded' | 'unloading';
  /** The model's share of the memory budget, held from the moment its load is accepted until it is unloaded. */
  bytes: number;
}

const MB = (bytes: number) => Math.round(bytes / (1024 * 1024));

export class ModelTable {
  private readonly entries = new Map<string, Entry>();
  /**
   * The server's own share of the budget: its processes' resident memory before any model, and each
   * worker's onnxruntime, which its first model brings and which then stays.
   */
  private serverBytes: number | undefined;

  /** Measures the server's own share, once every worker listens and before any model is loaded; returns it. */
  measureServer(): number {
    this.serverBytes ??= treeMemoryBytes() + this.config.workers * RUNTIME_BYTES;
    return this.serverBytes;
  }

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly supervisor: Supervisor,
    private readonly metrics?: MetricsCollector,
  ) {}

  async handle(request: ControlRequest): Promise<ControlReply> {
    try {
      if (request.op === 'list') return { ok: true, models: this.list() };
      if (request.op === 'load') await this.load(request.name, request.url);
      else await this.unload(request.name);
      return { ok: true };
    } catch (err) {
      const error = withMessage(err);
      if (error.code === 'INTERNAL_ERROR') this.logger.error({ err: String((err as Error)?.stack ?? err) }, 'unexpected error in the model table');
      return { ok: false, error };
    }
  }

  /** Loaded models, sorted by name. */
  private list(): LoadedModel[] {
    return [...this.entries].filter(([, e]) => e.state === 'loaded').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([modelName, e]) => ({ modelName, modelUrl: e.url }));
  }

  /** The shares every model holds (loaded, loading or unloading). */
  private held(): number {
    return [...this.entries.values()].reduce((n, e) => n + e.bytes, 0);
  }

  private loadedCount(): number {
    return [...this.entries.values()].filter((e) => e.state === 'loaded').length;
  }

  private async load(name: string, url: string): Promise<void> {
    if (!MODEL_NAME.test(name)) throw new ServerError('INVALID_PARAMETER', `model_name ${JSON.stringify(name)} is not a model name this server takes: letters, digits, ".", "_" and "-", starting with a letter or digit, at most 256`);
    if (!path.isAbsolute(url)) throw new ServerError('INVALID_PARAMETER', `url ${JSON.stringify(url)} must be an absolute path to the model's folder (SageMaker gives /opt/ml/models/<name>/model)`);
    const existing = this.entries.get(name);
    if (existing) throw new ServerError('MODEL_ALREADY_LOADED', `model "${name}" is already ${existing.state === 'loaded' ? 'loaded' : existing.state} (from ${existing.url}); DELETE /models/${name} first to replace it`);
    // Claimed before any await, so that a second load of the same name is refused at once.
    const entry: Entry = { url, state: 'loading', bytes: 0 };
    this.entries.set(name, entry);
    const started = performance.now();
    try {
      let folder: ReturnType<typeof modelFolder>;
      try {
        folder = modelFolder(url, codeDirOf(url), this.config.program, false, this.config.inferenceEnsemble);
      } catch (err) {
        const error = err instanceof ServerError ? err : new ServerError('NO_MODEL_AT_URL', String(err));
        throw new ServerError(error.code === 'INFERENCE_CODE_INVALID' ? error.code : 'NO_MODEL_AT_URL', `model "${name}": ${error.message}`);
      }
      const holders = holderSlots(name, this.config.workers, this.config.modelCopies);
      const weight = folder.treeFiles ? treeWeight(folder.treeFiles, (file) => fs.statSync(file).size) : modelWeight(folder.modelFile, (file) => fs.statSync(file).size);
      // A model that may also run on the workers' own threads (inference/inline.ts) holds one more session in each.
      const inline = this.config.inline && !folder.codeFile && !folder.treeFiles && folder.modelFile !== undefined && !inlineSizeRefusal(weight.fileBytes, weight.trees);
      entry.bytes = modelShare(weight, holders.length, this.config.threads, inline);
      this.checkMemory(name, entry);
      const model = await this.supervisor.load({ name, dir: url, ...folder }, holders).catch((error: WireError) => {
        throw new ServerError(error.code, `model "${name}" cannot be loaded: ${error.message}`);
      });
      entry.state = 'loaded';
      this.metrics?.modelLoaded(true, (performance.now() - started) / 1000);
      this.metrics?.modelsLoaded(this.loadedCount());
      // A warm-up that could not run is said here, as the single-model start-up line says it.
      const warm = { kind: model.kind, warmed: model.warmed, ...(model.warmupError ? { warmupError: model.warmupError } : {}) };
      this.logger.info({ model: name, url, holders, memoryMb: MB(entry.bytes), memoryHeldMb: MB(this.held()), ...warm, ModelLoadingTime: Math.round(performance.now() - started), LoadedModelCount: this.loadedCount() }, `model ${name} loaded`);
    } catch (err) {
      this.entries.delete(name);
      this.metrics?.modelLoaded(false, (performance.now() - started) / 1000);
      throw err;
    }
  }

  /**
   * 507 before loading when the model's share does not fit beside the server's own and those the other
   * models hold (loaded, loading or still unloading). A guard besides: the processes' real resident memory
   * (plus the shares of loads not finished, which it does not show yet) must leave room for it too, in
   * case models take more than their shares (their own code's caches, say).
   */
  private checkMemory(name: string, entry: Entry): void {
    const limit = this.config.memoryLimitBytes;
    const others = [...this.entries.values()].filter((e) => e !== entry);
    // (A load may come before the server is ready: a first worker listens before the others.)
    const server = this.measureServer();
    const held = others.reduce((n, e) => n + e.bytes, 0);
    const where = `of the ${MB(limit)} MB this server may use (MODEL_SERVER_MEMORY_LIMIT_MB, else the container's memory limit)`;
    if (server + held + entry.bytes > limit) {
      throw new ServerError('INSUFFICIENT_MEMORY', `model "${name}" needs about ${MB(entry.bytes)} MB, and the ${others.length} model(s) loaded hold ${MB(held)} MB and the server itself ${MB(server)} MB ${where}; unload a model first`);
    }
    const resident = treeMemoryBytes() + others.filter((e) => e.state === 'loading').reduce((n, e) => n + e.bytes, 0);
    if (resident + entry.bytes > limit) {
      throw new ServerError('INSUFFICIENT_MEMORY', `model "${name}" needs about ${MB(entry.bytes)} MB, and the server's processes already use ${MB(resident)} MB ${where}, more than the models loaded were expected to take; unload a model first`);
    }
  }

  private async unload(name: string): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry || entry.state !== 'loaded') {
      throw new ServerError('MODEL_NOT_LOADED', entry ? `model "${name}" is ${entry.state}; it can be unloaded once it is loaded` : `model "${name}" is not loaded`);
    }
    entry.state = 'unloading';
    const started = performance.now();
    await this.supervisor.unload(name);
    this.entries.delete(name);
    this.metrics?.modelUnloaded((performance.now() - started) / 1000);
    this.metrics?.modelsLoaded(this.loadedCount());
    this.logger.info({ model: name, ModelUnloadingTime: Math.round(performance.now() - started), LoadedModelCount: this.loadedCount() }, `model ${name} unloaded`);
  }
}
