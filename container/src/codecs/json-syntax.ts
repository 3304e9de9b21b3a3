// Finds where a JSON text stops being valid. Runs only after JSON.parse has failed, because V8's messages
// often give no position ("Unexpected token 'N', ... is not valid JSON"). Iterative, so depth is no issue.

export interface SyntaxProblem {
  offset: number;
  reason: string;
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

export function findJsonSyntaxError(text: string): SyntaxProblem | undefined {
  let i = 0;
  // Each frame: what the enclosing container expects next.
  const stack: ('array-first' | 'array-next' | 'object-first' | 'object-next' | 'object-colon')[] = [];
  const ws = () => {
    while (i < text.length && WS.has(text.charCodeAt(i))) i++;
  };
  const describe = () => (i >= text.length ? 'unexpected end of input' : `unexpected ${JSON.stringify(text[i])}`);

  const string = (): SyntaxProblem | undefined => {
    i++; // opening quote
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return undefined;
      }
      if (c < 0x20) return { offset: i, reason: 'control character inside a string' };
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return { offset: i, reason: 'bad \\u escape' };
          i += 6;
          continue;
        }
        if (!e || !'"\\/bfnrt'.includes(e)) return { offset: i, reason: 'bad escape' };
        i += 2;
        continue;
      }
      i++;
    }
    return { offset: i, reason: 'unterminated string' };
  };

  // Parses one value start; containers push a frame and return.
  const value = (): SyntaxProblem | undefined => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      stack.push('object-first');
      return undefined;
    }
    if (c === '[') {
      i++;
      stack.push('array-first');
      return undefined;
    }
    if (c === '"') return string();
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return undefined;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m && m[0].length > 0 && m[0] !== '-') {
      i += m[0].length;
      return undefined;
    }
    return { offset: i, reason: `${describe()}, expected a value (NaN and Infinity are not JSON: write "NaN", "Infinity", "-Infinity")` };
  };

  let problem = value();
  while (!problem) {
    ws();
    const top = stack[stack.length - 1];
    if (top === undefined) {
      return i < text.length ? { offset: i, reason: `${describe()} after the end of the document` } : undefined;
    }
    const c = text[i];
    if (top === 'array-first' || top === 'array-next') {
      if (c === ']') {
        i++;
        stack.pop();
        continue;
      }
      if (top === 'array-next') {
        if (c !== ',') return { offset: i, reason: `${describe()}, expected "," or "]"` };
        i++;
      }
      stack[stack.length - 1] = 'array-next';
      problem = value();
      continue;
    }
    if (top === 'object-colon') {
      if (c !== ':') return { offset: i, reason: `${describe()}, expected ":"` };
      i++;
      stack[stack.length - 1] = 'object-next';
      problem = value();
      continue;
    }
    // object-first / object-next: a key (or the end)
    if (c === '}') {
      i++;
      stack.pop();
      continue;
    }
    if (top === 'object-next') {
      if (c !== ',') return { offset: i, reason: `${describe()}, expected "," or "}"` };
      i++;
      ws();
    }
    if (text[i] !== '"') return { offset: i, reason: `${describe()}, expected a quoted key` };
    problem = string();
    stack[stack.length - 1] = 'object-colon';
  }
  return problem;
}
