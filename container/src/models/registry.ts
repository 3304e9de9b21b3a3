// The models one worker holds, by name, with each one's readiness. The single-model endpoint is this
// registry with one model named "model".
import type { ModelDescription } from '../vocabulary';
import type { Model } from './model';

export type ModelState = 'loading' | 'ready' | 'failed';

interface Entry {
  model: Model;
  state: ModelState;
}

export class ModelRegistry {
  private readonly entries = new Map<string, Entry>();

  /** Holds a model under its name and follows its loading; resolves with its description, rejects with its failure. */
  add(model: Model): Promise<ModelDescription> {
    if (this.entries.has(model.name)) throw new Error(`model "${model.name}" is already held`);
    const entry: Entry = { model, state: 'loading' };
    this.entries.set(model.name, entry);
    return model.ready().then(
      (description) => {
        entry.state = 'ready';
        return description;
      },
      (err: unknown) => {
        entry.state = 'failed';
        throw err;
      },
    );
  }

  /** The model if it is held and ready to be invoked. */
  ready(name: string): Model | undefined {
    const entry = this.entries.get(name);
    return entry?.state === 'ready' ? entry.model : undefined;
  }

  state(name: string): ModelState | undefined {
    return this.entries.get(name)?.state;
  }

  /** Stops holding a model and releases it once its in-flight invocations are done. */
  async remove(name: string, waitMs = 0): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) return;
    this.entries.delete(name);
    await entry.model.close(waitMs);
  }

  async closeAll(waitMs = 0): Promise<void> {
    await Promise.all([...this.entries.keys()].map((name) => this.remove(name, waitMs)));
  }
}
