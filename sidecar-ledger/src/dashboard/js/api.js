// The ledger's HTTP API as the page uses it: JSON reads authorised by the session
// cookie (set by POST /v1/session), and export URLs the browser downloads with it.

export class Unauthorized extends Error {}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== '') q.set(k, v);
  }
  return q.toString();
}

export function url(path, params) {
  const q = query(params);
  return q ? `${path}?${q}` : path;
}

export async function get(path, params) {
  const r = await fetch(url(path, params), { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (r.status === 401) throw new Unauthorized('sign in');
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.error && body.error.message) || `HTTP ${r.status}`);
  return body;
}

async function send(method, path, body) {
  const r = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!r.ok) {
    const b = await r.json().catch(() => ({}));
    throw new Error((b.error && b.error.message) || `HTTP ${r.status}`);
  }
  return r;
}

export const signIn = (token) => send('POST', '/v1/session', { token });
export const signOut = () => send('DELETE', '/v1/session');

/** Posts a JSON body; the parsed answer, or an Error with the ledger's message. */
export async function post(path, body) {
  const r = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
  if (r.status === 401) throw new Unauthorized('sign in');
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((answer.error && answer.error.message) || `HTTP ${r.status}`);
  return answer;
}

/** Deletes what `path` names; the parsed answer, or an Error with the ledger's message. */
export async function remove(path) {
  const r = await fetch(path, { method: 'DELETE', credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (r.status === 401) throw new Unauthorized('sign in');
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((answer.error && answer.error.message) || `HTTP ${r.status}`);
  return answer;
}
