// Talking to the JobManager: JSON requests, polling and server-sent events, each owned by a
// view's Scope so that leaving the view stops them.

/** An answer that was not 2xx: its status and the API's `errors` messages. */
export class ApiError extends Error {
  constructor(status, messages) {
    super(messages.join('; ') || `HTTP ${status}`);
    this.status = status;
    this.messages = messages;
  }
}

const listeners = new Set();
/** Calls `fn(ok)` whenever a request succeeds or fails at the network level. */
export function onConnection(fn) { listeners.add(fn); }
function connection(ok) { for (const fn of listeners) fn(ok); }

/** Sends `method path` with an optional JSON body; resolves to the parsed JSON answer. */
export async function request(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    connection(false);
    throw new ApiError(0, [`the JobManager does not answer (${e.message})`]);
  }
  connection(true);
  const text = await res.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch { json = { text }; }
  }
  if (!res.ok) {
    const messages = json && Array.isArray(json.errors) ? json.errors : [text || res.statusText];
    throw new ApiError(res.status, messages);
  }
  return json;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body ?? {});
export const patch = (path, body) => request('PATCH', path, body);

/** Plain text (logs). */
export async function getText(path) {
  const res = await fetch(path);
  if (!res.ok) throw new ApiError(res.status, [await res.text()]);
  return res.text();
}

/**
 * What a view starts and must stop when it is left: timers, polls and event streams.
 * `scope.poll(ms, fn)` runs `fn` now and then every `ms` after each run ends (never two at
 * once); `scope.stream(path, types, fn)` follows an SSE stream's events of one type or of a
 * list of types (`fn(data, event)`); `scope.dispose()` stops all.
 */
export class Scope {
  constructor() { this.stops = []; this.alive = true; }
  add(stop) { this.stops.push(stop); }
  poll(ms, fn) {
    let timer = null;
    const run = async () => {
      if (!this.alive) return;
      try { await fn(); } catch (e) { console.warn('poll', e); }
      if (this.alive) timer = setTimeout(run, ms);
    };
    run();
    this.add(() => clearTimeout(timer));
  }
  stream(path, types, fn, onError) {
    const es = new EventSource(path);
    for (const type of Array.isArray(types) ? types : [types]) {
      es.addEventListener(type, (ev) => {
        if (!this.alive) return;
        connection(true);
        let data;
        try { data = JSON.parse(ev.data); } catch (e) { console.warn('stream', e); return; }
        fn(data, ev);
      });
    }
    // The browser reconnects by itself after a brief error; only a closed stream is "down".
    es.onerror = () => { if (es.readyState === EventSource.CLOSED) connection(false); if (onError) onError(); };
    this.add(() => es.close());
    return es;
  }
  dispose() {
    this.alive = false;
    for (const stop of this.stops.splice(0)) {
      try { stop(); } catch (e) { console.warn(e); }
    }
  }
}
