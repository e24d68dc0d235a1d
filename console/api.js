// The console's only way to the API. Tokens live in sessionStorage (this
// tab, gone when it closes) and travel only in the Authorization header,
// never in a URL. A 401 asks for the token again through onUnauthorized.

const KEYS = { admin: 'hookloop.adminToken', api: 'hookloop.apiToken' };

export class ApiError extends Error {
  constructor(status, body) {
    const b = body && typeof body === 'object' ? body : {};
    super(typeof b.message === 'string' ? b.message : `hookloop answered ${status}`);
    this.status = status;
    this.code = typeof b.error === 'string' ? b.error : `http_${status}`;
    this.details = Array.isArray(b.details) ? b.details : [];
  }
}

let unauthorized = () => {};
/** cb(kind) runs when the API answers 401 for kind 'admin' or 'api'. */
export function onUnauthorized(cb) { unauthorized = cb; }

export function token(kind) { return sessionStorage.getItem(KEYS[kind]) || ''; }
export function setToken(kind, value) {
  if (value) sessionStorage.setItem(KEYS[kind], value);
  else sessionStorage.removeItem(KEYS[kind]);
}

/**
 * Calls the API. body: undefined, a string (sent as is: JSON text the user
 * wrote keeps its exact numbers) or a value (JSON-encoded). kind: which
 * token to send ('admin' for /admin, 'api' for /api). Resolves to
 * {status, data, text} (text: the answer as sent, for json-text.js);
 * rejects with ApiError (status 0 when nothing answered).
 */
export async function call(method, path, body, kind = 'admin') {
  const headers = { accept: 'application/json' };
  const t = token(kind);
  if (t) headers.authorization = `Bearer ${t}`;
  let payload;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    throw new ApiError(0, { error: 'unreachable', message: `hookloop did not answer (${e.message})` });
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (res.status === 401) {
    unauthorized(kind);
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data || { error: `http_${res.status}`, message: text.slice(0, 300) });
  return { status: res.status, data, text };
}

export const get = (path) => call('GET', path);
export const post = (path, body, kind) => call('POST', path, body === undefined ? '' : body, kind);
export const del = (path) => call('DELETE', path);

/** GET path's data, or null when the API answers 404 (a page's "not found" state). */
export async function getOrNull(path) {
  try {
    return (await get(path)).data;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

/** {data, text} of GET path, or null on 404: text keeps the numbers data rounded. */
export async function getTextOrNull(path) {
  try {
    const { data, text } = await get(path);
    return { data, text };
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

/** A path segment or query value, escaped. */
export const seg = (s) => encodeURIComponent(String(s));

// The API's own description (GET /openapi.json, no token needed): what
// this hookloop offers, so pages show only what works (capabilities.js).
let doc = { paths: {}, components: { schemas: {} } };
export async function loadDescription() {
  try {
    const res = await fetch('/openapi.json', { cache: 'no-store', credentials: 'omit' });
    if (res.ok) doc = await res.json();
  } catch { /* an older hookloop without the document: the basics only */ }
}
export function description() { return doc; }
