// Content-Type matching and Accept negotiation (lists, q-values, type/* and */* wildcards) against the
// media types a model reads and writes (its description), not a fixed list.
import { parseMediaType } from '../codecs/media-type';
import type { ModelDescription } from '../vocabulary';

export { parseMediaType };

/** What a model reads and writes. */
export type MediaOffer = Pick<ModelDescription, 'consumes' | 'produces' | 'aliases'>;

interface AcceptEntry {
  type: string;
  q: number;
  order: number;
}

function parseAccept(header: string): AcceptEntry[] {
  const entries: AcceptEntry[] = [];
  header.split(',').forEach((part, order) => {
    const media = parseMediaType(part);
    if (!media) return;
    const q = media.params.q === undefined ? 1 : Number(media.params.q);
    entries.push({ type: media.type, q: Number.isFinite(q) ? Math.min(Math.max(q, 0), 1) : 0, order });
  });
  return entries.sort((a, b) => b.q - a.q || a.order - b.order);
}

const canonical = (offer: MediaOffer, type: string): string => offer.aliases[type] ?? type;

/** The canonical request type when the model reads it, else undefined (415). */
export function consumed(offer: MediaOffer, type: string): string | undefined {
  return offer.consumes.includes(type) ? canonical(offer, type) : undefined;
}

/**
 * The response media type for a request, or undefined when nothing acceptable can be produced (406).
 * Missing Accept and bare wildcards pick the default: SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, else the
 * request's own type, else JSON (else the model's first type).
 */
export function negotiate(accept: string | undefined, requestType: string, defaultAccept: string | undefined, offer: MediaOffer): string | undefined {
  const produced = (t: string) => offer.produces.includes(canonical(offer, t));
  const fallback = offer.produces.includes('application/json') ? 'application/json' : offer.produces[0];
  const mirrored = produced(requestType) ? canonical(offer, requestType) : fallback;
  const preferred = defaultAccept && produced(defaultAccept) ? canonical(offer, defaultAccept) : mirrored;
  if (!accept || accept.trim() === '') return preferred;
  const entries = parseAccept(accept);
  if (entries.length === 0) return preferred;
  const refused = new Set(entries.filter((e) => e.q === 0).map((e) => canonical(offer, e.type)));
  const usable = (t: string | undefined): t is string => t !== undefined && !refused.has(t) && produced(t);
  for (const entry of entries) {
    if (entry.q === 0) continue;
    if (entry.type === '*/*') {
      if (usable(preferred)) return preferred;
      const other = offer.produces.find(usable);
      if (other) return other;
      continue;
    }
    if (entry.type.endsWith('/*')) {
      const family = entry.type.slice(0, -1);
      if (preferred?.startsWith(family) && usable(preferred)) return preferred;
      const match = offer.produces.find((t) => t.startsWith(family) && usable(t));
      if (match) return match;
      continue;
    }
    const exact = canonical(offer, entry.type);
    if (usable(exact)) return exact;
  }
  return undefined;
}

/** Whether a V2 (JSON-only) answer is acceptable: no Accept, or one allowing application/json. */
export function acceptsJson(accept: string | undefined): boolean {
  if (!accept || accept.trim() === '') return true;
  const entries = parseAccept(accept);
  if (entries.length === 0) return true;
  const json = entries.find((e) => e.type === 'application/json') ?? entries.find((e) => e.type === 'application/*') ?? entries.find((e) => e.type === '*/*');
  return json !== undefined && json.q > 0;
}
