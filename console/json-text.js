// JSON kept as text. JSON.parse makes each number a double, so
// 12345678901234567891 comes back as 12345678901234567000 and 100.10 as
// 100.1; the API keeps filters, schemas, specs and metadata with their
// numbers exactly as written (README: "exact decimals"). So what a form
// shows is sliced from the API's answer text, what it sends is the text
// the user typed, and JSON.parse only checks that text.

const SPACE = ' \t\n\r';
const PUNCT = '{}[]:,';

/** The tokens of JSON text: punctuation, strings and scalars as written. */
function tokens(text) {
  const out = [];
  for (let i = 0; i < text.length;) {
    const c = text[i];
    if (SPACE.includes(c)) { i++; continue; }
    if (PUNCT.includes(c)) { out.push(c); i++; continue; }
    let j = i + 1;
    if (c === '"') {
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      j++;
    } else {
      while (j < text.length && !SPACE.includes(text[j]) && !PUNCT.includes(text[j]) && text[j] !== '"') j++;
    }
    out.push(text.slice(i, j));
    i = j;
  }
  return out;
}

/** Index past the value starting at tokens t[i]. */
function skipValue(t, i) {
  let depth = 0;
  do {
    if (t[i] === '{' || t[i] === '[') depth++;
    else if (t[i] === '}' || t[i] === ']') depth--;
    i++;
  } while (depth > 0 && i < t.length);
  return i;
}

/**
 * The text of the member at keys (objects only) of the JSON document text,
 * compact, its strings and numbers as written; undefined when absent.
 */
export function memberText(text, ...keys) {
  const t = tokens(text);
  let i = 0;
  for (const key of keys) {
    if (t[i] !== '{') return undefined;
    i++;
    let found = false;
    while (i < t.length && t[i] !== '}') {
      const k = JSON.parse(t[i]);
      i += 2; // the name and its ':'
      if (k === key) { found = true; break; }
      i = skipValue(t, i);
      if (t[i] === ',') i++;
    }
    if (!found) return undefined;
  }
  return t.slice(i, skipValue(t, i)).join('');
}

/** JSON text compact: comparable whatever its spacing. */
export const compactText = (text) => tokens(text).join('');

/** JSON text laid out as JSON.stringify(v, null, 2) would, with its own numbers. */
export function prettyText(text) {
  const t = tokens(text);
  const nl = (depth) => `\n${'  '.repeat(depth)}`;
  let out = '', depth = 0;
  for (let i = 0; i < t.length; i++) {
    const x = t[i];
    if (x === '{' || x === '[') {
      const close = x === '{' ? '}' : ']';
      if (t[i + 1] === close) { out += x + close; i++; continue; }
      depth++;
      out += x + nl(depth);
    } else if (x === '}' || x === ']') {
      depth--;
      out += nl(depth) + x;
    } else if (x === ',') out += `,${nl(depth)}`;
    else if (x === ':') out += ': ';
    else out += x;
  }
  return out;
}

/**
 * A JSON object's text: the members of value JSON-encoded, then those of
 * raw spliced in as the JSON text they are (undefined ones left out).
 */
export function objectText(value, raw = {}) {
  const parts = [];
  for (const [k, v] of Object.entries(value)) if (v !== undefined) parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
  for (const [k, r] of Object.entries(raw)) if (r !== undefined) parts.push(`${JSON.stringify(k)}:${r}`);
  return `{${parts.join(',')}}`;
}
