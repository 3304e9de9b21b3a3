// Bytes to text for the codecs: UTF-8 by default, or the request's charset parameter; errors give the
// byte offset of the first undecodable byte.
import { TextDecoder } from 'node:util';
import { ServerError } from '../errors';

const decoders = new Map<string, TextDecoder>();

function decoderFor(charset: string): TextDecoder {
  const key = charset.toLowerCase();
  let decoder = decoders.get(key);
  if (!decoder) {
    try {
      decoder = new TextDecoder(key, { fatal: true, ignoreBOM: false });
    } catch {
      throw new ServerError('UNSUPPORTED_MEDIA_TYPE', `charset=${charset} is not an encoding this server knows; send UTF-8`);
    }
    decoders.set(key, decoder);
  }
  return decoder;
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstBadUtf8Byte(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const len = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (len === 0 || i + len > bytes.length) return i;
    for (let k = 1; k < len; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    // Overlong, surrogate and out-of-range forms.
    if ((b === 0xe0 && bytes[i + 1] < 0xa0) || (b === 0xed && bytes[i + 1] >= 0xa0) || (b === 0xf0 && bytes[i + 1] < 0x90) || (b === 0xf4 && bytes[i + 1] >= 0x90)) return i;
    i += len;
  }
  return bytes.length;
}

export function decodeText(bytes: Uint8Array, charset = 'utf-8'): string {
  const decoder = decoderFor(charset);
  try {
    return decoder.decode(bytes);
  } catch {
    const where = decoder.encoding === 'utf-8' ? ` (first bad byte at offset ${firstBadUtf8Byte(bytes)})` : '';
    throw new ServerError('INVALID_ENCODING', `the body is not valid ${decoder.encoding}${where}`);
  }
}
