// Users' inference code: the module in a model's code/ folder (inference.mjs, .js, .cjs or SAGEMAKER_PROGRAM),
// imported once per inference thread, and checked before the model is declared ready. Its hooks carry the
// names of AWS's inference toolkit in camelCase (model_fn -> modelFn, ...).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ServerError } from '../errors';
import { HOOK_NAMES, type CodeDescription, type HookName } from '../vocabulary';

export type Hook = (...args: unknown[]) => unknown;

export interface UserCode {
  description: CodeDescription;
  hooks: Partial<Record<HookName, Hook>>;
}

/** The toolkit's Python names, which a module ported from inference.py might still export. */
const TOOLKIT_NAMES: Record<string, HookName> = {
  model_fn: 'modelFn', input_fn: 'inputFn', predict_fn: 'predictFn', output_fn: 'outputFn', transform_fn: 'transformFn', model_warmup_fn: 'warmupFn', warmup_fn: 'warmupFn',
};

const MEDIA = /^[a-z0-9!#$&^_.+-]+\/([a-z0-9!#$&^_.+-]+|\*)$|^\*\/\*$/;

/** A short file name for messages: code/inference.mjs rather than the whole path. */
export function codeName(file: string): string {
  return `${path.basename(path.dirname(file))}/${path.basename(file)}`;
}

function invalid(file: string, why: string): never {
  throw new ServerError('INFERENCE_CODE_INVALID', `${codeName(file)} (${file}): ${why}`);
}

/**
 * The line of a syntax error. A failed import() does not say where it is, so Node's own check of the file
 * (node --check, which prints "file:line" first) is asked; this runs only when loading has failed.
 */
function syntaxErrorLine(file: string, err: { stack?: string }): string | undefined {
  const inStack = /^(?:file:\/\/)?\/[^\n]*?:(\d+)\n/.exec(err.stack ?? '');
  if (inStack) return inStack[1];
  const check = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
  return new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+)`, 'm').exec(check.stderr ?? '')?.[1];
}

function loadFailure(file: string, err: unknown): string {
  const e = err as { name?: string; message?: string; stack?: string; code?: string };
  const message = `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`;
  if (e?.name === 'SyntaxError') {
    const line = syntaxErrorLine(file, e);
    return line ? `${message} (line ${line})` : message;
  }
  if (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') {
    return `${message}. Its dependencies must be in ${path.join(path.dirname(file), 'node_modules')} (nothing is installed at start: run npm install there before packing the model)`;
  }
  return message;
}

function mediaList(file: string, exported: unknown, name: string): string[] | undefined {
  if (exported === undefined) return undefined;
  const list = typeof exported === 'string' ? [exported] : exported;
  if (!Array.isArray(list) || list.length === 0 || !list.every((t) => typeof t === 'string' && MEDIA.test(t.trim().toLowerCase()))) {
    invalid(file, `"${name}" must be a media type or a non-empty list of them, such as ["image/png"] (got ${JSON.stringify(exported)})`);
  }
  return list.map((t: string) => t.trim().toLowerCase());
}

/**
 * Imports and checks the module: every hook it exports is a function, transformFn stands alone, the
 * declared media types are media types. `builtinConsumes` are the types the server decodes itself: a
 * module without an inputFn cannot declare others.
 */
export async function loadUserCode(file: string, builtinConsumes: readonly string[], builtinProduces: readonly string[]): Promise<UserCode> {
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    return invalid(file, `cannot be loaded: ${loadFailure(file, err)}`);
  }
  // CommonJS modules arrive as { default: module.exports } (named exports only when Node can detect them).
  const fromDefault = typeof namespace.default === 'object' && namespace.default !== null && !HOOK_NAMES.some((h) => h in namespace);
  const exports = (fromDefault ? namespace.default : namespace) as Record<string, unknown>;
  for (const [python, name] of Object.entries(TOOLKIT_NAMES)) {
    if (python in exports) invalid(file, `exports ${python}: this server's hooks are named in camelCase; export it as ${name}`);
  }
  const hooks: Partial<Record<HookName, Hook>> = {};
  for (const name of HOOK_NAMES) {
    const value = exports[name];
    if (value === undefined) continue;
    if (typeof value !== 'function') invalid(file, `${name} must be a function (it is ${value === null ? 'null' : typeof value})`);
    hooks[name] = value as Hook;
  }
  const names = HOOK_NAMES.filter((h) => hooks[h]);
  if (hooks.transformFn && (hooks.inputFn || hooks.predictFn || hooks.outputFn)) {
    invalid(file, `transformFn handles the whole request and cannot be combined with ${names.filter((h) => h === 'inputFn' || h === 'predictFn' || h === 'outputFn').join(', ')}: keep transformFn alone, or split it into those`);
  }
  const consumes = mediaList(file, exports.consumes, 'consumes');
  const produces = mediaList(file, exports.produces, 'produces');
  const readsItself = hooks.inputFn || hooks.transformFn;
  const writesItself = hooks.outputFn || hooks.transformFn;
  const foreignIn = !readsItself && consumes?.filter((t) => !builtinConsumes.includes(t));
  if (foreignIn && foreignIn.length > 0) invalid(file, `declares consumes ${foreignIn.join(', ')}, which the server cannot decode itself: add an inputFn that reads it`);
  const foreignOut = !writesItself && produces?.filter((t) => !builtinProduces.includes(t));
  if (foreignOut && foreignOut.length > 0) invalid(file, `declares produces ${foreignOut.join(', ')}, which the server cannot write itself: add an outputFn that writes it`);
  const batchSafe = exports.batchSafe;
  if (batchSafe !== undefined && typeof batchSafe !== 'boolean') invalid(file, `batchSafe must be true or false (got ${JSON.stringify(batchSafe)})`);
  const description: CodeDescription = { file, hooks: names, batchSafe: batchSafe === true, ...(consumes ? { consumes } : {}), ...(produces ? { produces } : {}) };
  return { description, hooks };
}
