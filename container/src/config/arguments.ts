// `serve`'s command-line arguments, as KServe's ServingRuntimes pass them to a model server
// (--model_name, --model_dir, --http_port): each stands for one setting, and wins over its variable. They are
// given to the settings under their own names, so a bad value is refused naming the argument.
import { ServerError } from '../errors';
import type { Env } from './env';

/** The arguments `serve` takes, with the setting each one sets. */
export const SERVE_ARGUMENTS = {
  '--model_name': 'MODEL_SERVER_MODEL_NAME',
  '--model_dir': 'MODEL_SERVER_MODEL_DIR',
  '--http_port': 'SAGEMAKER_BIND_TO_PORT',
} as const;

export type ServeArgument = keyof typeof SERVE_ARGUMENTS;

/** `--name=value` or `--name value` pairs as an Env keyed by the argument's name; anything else is refused. */
export function parseServeArguments(argv: readonly string[]): Env {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (!(name in SERVE_ARGUMENTS)) {
      throw new ServerError('CONFIG_INVALID', `serve does not take the argument ${JSON.stringify(arg)}; it takes ${Object.keys(SERVE_ARGUMENTS).map((a) => `${a}=<value>`).join(', ')} (or their environment variables)`);
    }
    const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value.trim() === '') throw new ServerError('CONFIG_INVALID', `serve argument ${name} needs a value (${name}=<value>)`);
    out[name] = value;
  }
  return out;
}
