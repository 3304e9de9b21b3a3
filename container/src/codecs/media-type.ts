// Media-type strings: "text/csv; charset=UTF-8" -> type and parameters.

export interface MediaType {
  type: string;
  params: Record<string, string>;
}

/** "text/csv; charset=UTF-8" -> { type: "text/csv", params: { charset: "UTF-8" } }; undefined when absent or malformed. */
export function parseMediaType(header: string | undefined): MediaType | undefined {
  if (!header) return undefined;
  const [head, ...rest] = header.split(';');
  const type = head.trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+*-]+\/[a-z0-9!#$&^_.+*-]+$/.test(type)) return undefined;
  const params: Record<string, string> = {};
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    params[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return { type, params };
}
