// Codecs keyed by media type. Lookup is separate from use, so an unknown type is a 415/406 and a bug
// inside a codec is a 500, never the other way round.
import { csvCodec } from './csv';
import { jsonCodec, octetStreamCodec } from './json';
import { jsonLinesCodec } from './jsonlines';
import { libsvmCodec } from './libsvm';
import { npyCodec } from './npy';
import { recordioProtobufCodec } from './recordio-protobuf';
import { decodeText } from './text';
import type { Codec, DecodeContext, Decoded } from './types';

const CODECS: readonly Codec[] = [csvCodec, jsonCodec, jsonLinesCodec, octetStreamCodec, libsvmCodec, recordioProtobufCodec, npyCodec];

const byType = new Map<string, Codec>();
for (const codec of CODECS) for (const type of [codec.mediaType, ...(codec.aliases ?? [])]) byType.set(type, codec);

/** Media types accepted as Content-Type. */
const decodes = (c: Codec | undefined) => Boolean(c?.decode || c?.decodeBytes);
const encodes = (c: Codec | undefined) => Boolean(c?.encode || c?.encodeBinary);

export const REQUEST_TYPES: readonly string[] = CODECS.filter(decodes).flatMap((c) => [c.mediaType, ...(c.aliases ?? [])]);
/** Media types that can be produced, in order of preference for wildcards. */
export const RESPONSE_TYPES: readonly string[] = CODECS.filter(encodes).map((c) => c.mediaType);

export function requestCodec(mediaType: string): Codec | undefined {
  const codec = byType.get(mediaType);
  return decodes(codec) ? codec : undefined;
}

export function responseCodec(mediaType: string): Codec | undefined {
  const codec = byType.get(mediaType);
  return encodes(codec) ? codec : undefined;
}

/** What the built-in codecs read and write, as a model describes it (see ModelDescription). */
export function mediaTypes(): { consumes: string[]; produces: string[]; aliases: Record<string, string> } {
  const aliases: Record<string, string> = {};
  for (const codec of CODECS) for (const alias of codec.aliases ?? []) aliases[alias] = codec.mediaType;
  return { consumes: [...REQUEST_TYPES], produces: [...RESPONSE_TYPES], aliases };
}

/**
 * A request body through its codec: the codec's byte fast path when it has one and the body fits it,
 * else the body as text (in its charset) through decode. `path` says which one read it.
 */
export function decodeRequest(codec: Codec, body: Uint8Array, ctx: DecodeContext): { decoded: Decoded; path: 'bytes' | 'text' } {
  const fast = codec.decodeBytes?.(body, ctx);
  if (fast) return { decoded: fast, path: 'bytes' };
  return { decoded: codec.decode!(decodeText(body, ctx.params.charset), ctx), path: 'text' };
}
