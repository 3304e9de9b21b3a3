// XGBoost's JSON model text. XGBoost writes a bare NaN (and could write Infinity) where a number is not
// defined, as in the split_conditions of categorical splits, which is not JSON and which JSON.parse
// refuses: such tokens outside strings are read as null (a missing number) when the plain parse fails.

export function parseJsonWithNonFinite(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return JSON.parse(replaceNonFinite(text));
  }
}

/** The text with NaN, Infinity and -Infinity tokens outside strings replaced by null. */
export function replaceNonFinite(text: string): string {
  const parts: string[] = [];
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i += 1; // backslash: skip the escaped character
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 78 && text.startsWith('NaN', i)) {
      parts.push(text.slice(from, i), 'null');
      i += 2;
      from = i + 1;
    } else if (c === 73 && text.startsWith('Infinity', i)) {
      const start = i > 0 && text[i - 1] === '-' ? i - 1 : i;
      parts.push(text.slice(from, start), 'null');
      i += 7;
      from = i + 1;
    }
  }
  parts.push(text.slice(from));
  return parts.join('');
}
