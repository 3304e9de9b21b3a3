// Content-Type parsing and Accept negotiation (lists, q-values, type/* and */* wildcards).
import { parseMediaType } from '../codecs/media-type';
import { RESPONSE_TYPES, canonicalType, responseCodec } from '../codecs/registry';

export { parseMediaType };

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

/**
 * The response media type for a request, or undefined when nothing acceptable can be produced (406).
 * Missing Accept and bare wildcards pick the default: SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, else the
 * request's own type, else JSON.
 */
export function negotiate(accept: string | undefined, requestType: string, defaultAccept: string | undefined): string | undefined {
  const mirrored = responseCodec(requestType) ? canonicalType(requestType) : 'application/json';
  const preferred = defaultAccept && responseCodec(defaultAccept) ? canonicalType(defaultAccept) : mirrored;
  if (!accept || accept.trim() === '') return preferred;
  const entries = parseAccept(accept);
  if (entries.length === 0) return preferred;
  const refused = new Set(entries.filter((e) => e.q === 0).map((e) => canonicalType(e.type)));
  const usable = (t: string) => !refused.has(t) && responseCodec(t) !== undefined;
  for (const entry of entries) {
    if (entry.q === 0) continue;
    if (entry.type === '*/*') {
      if (usable(preferred)) return preferred;
      const other = RESPONSE_TYPES.find(usable);
      if (other) return other;
      continue;
    }
    if (entry.type.endsWith('/*')) {
      const family = entry.type.slice(0, -1);
      if (preferred.startsWith(family) && usable(preferred)) return preferred;
      const match = RESPONSE_TYPES.find((t) => t.startsWith(family) && usable(t));
      if (match) return match;
      continue;
    }
    const exact = canonicalType(entry.type);
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
