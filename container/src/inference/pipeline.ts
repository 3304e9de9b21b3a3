// A model's one pipeline inside an inference thread, built once per thread: input -> predict -> output,
// each step the user's hook where the model's code has one and the built-in step otherwise (the inference
// toolkit's `input_fn or default_input_fn`); transformFn, where given, replaces all three. Every request is
// a batch of one or more: the deadline is checked here, predict goes through the batcher, and every
// failure becomes an answer here.
import { ServerError, toWireError } from '../errors';
import type { Answer } from '../models/model';
import { predictAll } from './batcher';
import { BuiltinSteps, CHUNK_ROWS } from './builtin-steps';
import { RequestContext, type LoadContext } from './context';
import type { ThreadTask } from './protocol';
import type { OnnxSession } from './session';
import { HookError, type StepRequest, type Steps, type StepValue } from './steps';
import { hookFailure, UserSteps } from './user-steps';
import type { UserCode } from './user-code';

/** What a pipeline is built from: the server's session, and the model's code when it has some. */
export interface PipelineParts {
  /** The folder's model as the server loaded it; absent when the code's modelFn loaded it. */
  session?: OnnxSession;
  code?: {
    user: UserCode;
    /** What predictFn and transformFn get: modelFn's result, else the session (guarded). */
    model: unknown;
    /** The context of the load hooks, which request contexts extend. */
    base: LoadContext;
  };
}

const deadlinePassed = (): Answer => ({ ok: false, error: { code: 'TIMEOUT', message: 'the deadline passed before a thread was free' } });

/** Anything thrown as an answer; an unexpected error's stack goes to the log only. */
export function failure(err: unknown): Answer {
  const error = toWireError(err);
  const detail = error.code === 'INTERNAL_ERROR' ? String((err as Error)?.stack ?? err) : undefined;
  return { ok: false, error, detail };
}

export class Pipeline {
  private readonly builtin: BuiltinSteps;
  private readonly steps: Steps;
  private readonly transform?: (request: StepRequest) => Promise<Answer>;
  /** Set when predict is the built-in one with a session: the batcher may share its runs, and large requests run in chunks. */
  private readonly sharedRows: boolean;
  /** Set when predict and output are both built-in: large requests are encoded chunk by chunk. */
  private readonly chunks: boolean;

  constructor(private readonly parts: PipelineParts) {
    const hooks = parts.code?.user.hooks ?? {};
    this.builtin = new BuiltinSteps({ session: parts.session, model: parts.code?.model, writesAnswer: !hooks.outputFn });
    const user = parts.code && new UserSteps(hooks, parts.code.model);
    const builtin = this.builtin;
    this.steps = {
      input: user && hooks.inputFn ? (r) => user.input(r) : (r) => builtin.input(r),
      predict: user && hooks.predictFn ? (v, r) => user.predict(v, r) : (v) => builtin.predict(v),
      output: user && hooks.outputFn ? (v, r) => user.output(v, r) : (v, r) => builtin.output(v, r),
    };
    if (user && hooks.transformFn) this.transform = (r) => user.transform(r);
    this.sharedRows = !hooks.predictFn && !hooks.transformFn && parts.session !== undefined;
    this.chunks = this.sharedRows && !hooks.outputFn;
  }

  /** Answers every task, in order. */
  async run(tasks: readonly ThreadTask[]): Promise<Answer[]> {
    const answers: Answer[] = new Array(tasks.length);
    const requests: StepRequest[] = tasks.map((t) => ({ invocation: t.invocation, context: this.parts.code && new RequestContext(this.parts.code.base, t.invocation) }));
    const values: (StepValue | undefined)[] = new Array(tasks.length);
    for (let i = 0; i < tasks.length; i++) {
      const request = requests[i];
      try {
        if (Date.now() > tasks[i].deadline) answers[i] = deadlinePassed();
        else if (this.transform) answers[i] = await this.transform(request);
        else {
          let value = await this.steps.input(request);
          if (this.sharedRows) value = this.builtin.normalize(value);
          // A large request keeps a path of its own: sharing a run would hold all its rows' outputs at once.
          if (this.chunks && value.kind === 'rows' && value.matrix.rows > CHUNK_ROWS && this.builtin.chunkable(request.invocation.output)) answers[i] = await this.builtin.chunked(value.matrix, request);
          else values[i] = value;
        }
      } catch (err) {
        answers[i] = this.failed(err);
      }
    }
    const predicted = await predictAll(values, (v, i) => this.steps.predict(v, requests[i]), this.sharedRows ? (m) => this.builtin.predictRows(m) : undefined);
    for (let i = 0; i < tasks.length; i++) {
      const p = predicted[i];
      if (!p) continue;
      try {
        if (!p.ok) throw p.error;
        const answer = await this.steps.output(p.value, requests[i]);
        answers[i] = answer.ok && p.batch ? { ...answer, batch: p.batch } : answer;
      } catch (err) {
        answers[i] = this.failed(err);
      }
    }
    for (let i = 0; i < tasks.length; i++) {
      const headers = requests[i].context?.headersSet();
      if (headers) answers[i].headers = { ...answers[i].headers, ...headers };
    }
    return answers;
  }

  private failed(err: unknown): Answer {
    if (err instanceof HookError && !(err.cause instanceof ServerError)) return hookFailure(err, this.parts.code!.user.description.file);
    return failure(err instanceof HookError ? err.cause : err);
  }
}
