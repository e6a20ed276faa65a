// The console's only way to the gateway: the public REST API under /api, with the API key the person entered.
//
// Every answer is the REST envelope (README, "Using the API"): `data` on success; on failure the envelope's
// error, thrown as an ApiError whose message is the one the person sees.

const KEY_ITEM = 'wagw.console.apiKey';

/** The API key of this browser tab: kept in sessionStorage only, so it is gone when the tab closes. */
export const apiKey = {
  get: () => sessionStorage.getItem(KEY_ITEM) || '',
  set: (key) => sessionStorage.setItem(KEY_ITEM, key),
  clear: () => sessionStorage.removeItem(KEY_ITEM),
};

export class ApiError extends Error {
  constructor(code, message, status = 0, details = undefined) {
    super(message || code);
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

function url(path, query) {
  const target = new URL(`/api${path}`, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== '') target.searchParams.append(name, String(item));
    }
  }
  return target;
}

function headers(body, key) {
  const all = { 'X-API-Key': key ?? apiKey.get() };
  if (body !== undefined) all['Content-Type'] = 'application/json';
  return all;
}

/** The ApiError an error response carries (the envelope's code and message), whatever its body is. */
async function errorOf(response) {
  try {
    const envelope = await response.json();
    if (envelope && envelope.error) {
      return new ApiError(envelope.error.code, envelope.error.message, response.status, envelope.error.details);
    }
  } catch {
    // not JSON: described below
  }
  return new ApiError('UNAVAILABLE', `the gateway answered HTTP ${response.status}`, response.status);
}

async function call(method, path, { body, query, key, signal } = {}) {
  let response;
  try {
    response = await fetch(url(path, query), {
      method,
      headers: headers(body, key),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError('UNAVAILABLE', 'the gateway cannot be reached: is it running?');
  }
  if (!response.ok) throw await errorOf(response);
  const envelope = await response.json();
  return envelope.data;
}

export const get = (path, query, options) => call('GET', path, { ...options, query });
export const post = (path, body = {}, options) => call('POST', path, { ...options, body });
export const patch = (path, body, options) => call('PATCH', path, { ...options, body });
export const del = (path, options) => call('DELETE', path, options);

/** Every item of a paged list (`pageToken` → `nextPageToken`), up to `limit` items. */
export async function all(path, field, query = {}, limit = 2000) {
  const items = [];
  let pageToken = '';
  do {
    const page = await get(path, { ...query, pageSize: 500, pageToken });
    items.push(...page[field]);
    pageToken = page.nextPageToken;
  } while (pageToken && items.length < limit);
  return items;
}

/**
 * The objects of a server stream (`GET …/watch`), which Envoy sends as NDJSON: one JSON object per line, outside
 * the envelope. Calls `onObject` for each until the stream ends or `signal` aborts it.
 */
export async function stream(path, query, onObject, signal) {
  let response;
  try {
    response = await fetch(url(path, query), { headers: headers(undefined), signal });
  } catch (error) {
    if (error.name === 'AbortError') return;
    throw new ApiError('UNAVAILABLE', 'the gateway cannot be reached: is it running?');
  }
  if (!response.ok) throw await errorOf(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) onObject(JSON.parse(line));
      }
    }
  } catch (error) {
    if (error.name !== 'AbortError') throw error;
  }
}
