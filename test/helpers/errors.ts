// The ServerError a call throws (failing the test when it throws nothing, or something else).
import { ServerError } from '../../container/src/errors';

export function thrown(fn: () => unknown): ServerError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ServerError) return err;
    throw err;
  }
  throw new Error('expected a ServerError, but nothing was thrown');
}
