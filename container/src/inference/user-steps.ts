// The steps of a model's own inference code: its inputFn, predictFn and outputFn (or transformFn, which
// is all three), each given plain values and the request's context, each returning a value the next step
// takes (steps.ts). What a hook throws carries the hook's name: answered with the status it chose, or a
// 500 naming the hook, never a stack trace to the caller.
import { recordObject } from '../codecs/json';
import type { Answer, Invocation } from '../models/model';
import { SERVER_OUTPUT_KEYS, type HookName, type Predictions } from '../vocabulary';
import { plainValue, valueAnswer } from './builtin-steps';
import type { RequestContext } from './context';
import { HookError, type StepRequest, type StepValue } from './steps';
import { codeName, type Hook, type UserCode } from './user-code';

/** Runs one hook; what it throws is tagged with its name. */
async function call<T>(hook: HookName, run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw new HookError(hook, err);
  }
}

/** The body and its media type as the caller sent them (inputFn and transformFn read raw bytes). */
function rawBody(invocation: Invocation): { body: Buffer; type: string } {
  const { input } = invocation;
  if (input.kind === 'fields') return { body: Buffer.from(JSON.stringify(input.fields)), type: 'application/json' };
  // A copy: the body may sit in a shared slot that is reused once this invocation is answered.
  return { body: Buffer.from(input.body), type: input.mediaType };
}

/**
 * Built-in predictions as users' outputFn sees them: one object per row with every key of the server's own
 * style (SageMaker XGBoost's keys are that style's way of writing answers, not values of their own), or {score}.
 */
function predictionRecords(p: Predictions): Record<string, unknown>[] {
  const records = new Array(p.rows);
  for (let r = 0; r < p.rows; r++) records[r] = recordObject(p, { keys: SERVER_OUTPUT_KEYS }, r);
  return records;
}

/**
 * A hook failed with something other than a server error (those keep their code): its status when it
 * gave one, else a 500 naming it; the stack goes to the log only.
 */
export function hookFailure(err: HookError, file: string): Answer {
  const { hook, cause } = err;
  const e = cause as { statusCode?: unknown; status?: unknown; message?: unknown; stack?: unknown; name?: unknown };
  const status = typeof e?.statusCode === 'number' ? e.statusCode : typeof e?.status === 'number' ? e.status : undefined;
  const reason = (typeof e?.message === 'string' ? e.message : String(cause)).slice(0, 2000);
  const detail = `${hook} in ${file}: ${typeof e?.stack === 'string' ? e.stack : reason}`;
  if (status !== undefined && Number.isInteger(status) && status >= 400 && status <= 599) {
    // A status the code chose is an answer, not a fault: 4xx are logged as the request's warning only.
    return { ok: false, error: { code: 'INFERENCE_CODE_ERROR', message: reason, status }, ...(status >= 500 ? { detail } : {}) };
  }
  const kind = typeof e?.name === 'string' && e.name !== 'Error' ? `${e.name}: ` : '';
  return { ok: false, error: { code: 'INFERENCE_CODE_ERROR', message: `${hook} in ${codeName(file)} failed: ${kind}${reason}` }, detail };
}

/** A model's hooks as steps; each is used only where the module exports it. */
export class UserSteps {
  constructor(
    private readonly hooks: UserCode['hooks'],
    /** What predictFn and transformFn get: modelFn's result, else the folder's session (guarded). */
    private readonly model: unknown,
  ) {}

  private hook(name: HookName): Hook {
    return this.hooks[name]!;
  }

  async transform({ invocation, context }: StepRequest): Promise<Answer> {
    const ctx = context!;
    const { body, type } = rawBody(invocation);
    return valueAnswer(await call('transformFn', () => this.hook('transformFn')(this.model, body, type, ctx.accept, ctx)), ctx.accept, 'transformFn');
  }

  async input({ invocation, context }: StepRequest): Promise<StepValue> {
    const { body, type } = rawBody(invocation);
    return { kind: 'value', value: await call('inputFn', () => this.hook('inputFn')(body, type, context)), hook: 'inputFn' };
  }

  async predict(value: StepValue, { context }: StepRequest): Promise<StepValue> {
    return { kind: 'value', value: await call('predictFn', () => this.hook('predictFn')(plainValue(value), this.model, context)), hook: 'predictFn' };
  }

  async output(value: StepValue, { context }: StepRequest): Promise<Answer> {
    const ctx = context as RequestContext;
    const shown = value.kind === 'predictions' ? predictionRecords(value.predictions) : plainValue(value);
    return valueAnswer(await call('outputFn', () => this.hook('outputFn')(shown, ctx.accept, ctx)), ctx.accept, 'outputFn');
  }
}
