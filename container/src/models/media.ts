// The media types a model reads and writes (its offer), and the rules that read it: whether a list of
// types covers one (users' code may declare "*/*" or "image/*"), a type's canonical name, and the check
// that SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT names a type the model writes. The edge negotiates with these;
// the supervisor checks the setting with them once the model has said what it produces.
import { ServerError } from '../errors';
import type { ModelDescription } from '../vocabulary';

/** What a model reads and writes. */
export type MediaOffer = Pick<ModelDescription, 'consumes' | 'produces' | 'aliases'>;

/** A type's canonical name in the offer (an alias such as application/x-jsonlines maps to its codec's type). */
export const canonical = (offer: Pick<MediaOffer, 'aliases'>, type: string): string => offer.aliases[type] ?? type;

/** Whether a list of media types (which may hold "*\/*" or "type/*") covers a type. */
export function covers(list: readonly string[], type: string): boolean {
  if (list.includes(type) || list.includes('*/*')) return true;
  const slash = type.indexOf('/');
  return slash > 0 && list.includes(`${type.slice(0, slash)}/*`);
}

/**
 * SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT (`defaultAccept`) must name a type the model writes: checked once the
 * model has said what it produces. A bad one stops start-up naming the variable.
 */
export function checkDefaultAccept(defaultAccept: string | undefined, model: Pick<MediaOffer, 'produces' | 'aliases'>): void {
  if (defaultAccept === undefined || covers(model.produces, canonical(model, defaultAccept))) return;
  throw new ServerError('CONFIG_INVALID', `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT=${JSON.stringify(defaultAccept)} is invalid: expected one of ${model.produces.join(', ')}`);
}
