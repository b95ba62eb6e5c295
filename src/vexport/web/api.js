// Every request of the page goes through api(): the one place that adds the
// Authorization header once the server requires a login (setToken), that asks
// for a login when the server answers 401 (onUnauthorized) and then sends the
// request again, and that turns the API's JSON errors into exceptions with the
// server's message.

let token = sessionStorage.getItem("vexport.token") || "";
let unauthorized = null;  // (message, hadToken) => Promise that settles once a login succeeded

/** The bearer token this tab holds ("" when none). */
export function currentToken() {
  return token;
}

/**
 * Call `handler(message, hadToken)` when a request answers 401; the request is sent again
 * (with the new token) once the Promise it returns resolves. Without a handler
 * a 401 is an ApiError like any other.
 */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

/** Use `value` as the bearer token of every request (empty: none), for this tab. */
export function setToken(value) {
  token = value || "";
  if (token) sessionStorage.setItem("vexport.token", token);
  else sessionStorage.removeItem("vexport.token");
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "";
    this.field = error.field || null;
  }
}

/**
 * fetch() with the token; resolves to the Response, rejects with ApiError on 4xx/5xx.
 * A 401 waits for a login (onUnauthorized) and tries again, unless `ask` is false
 * (the login and logout calls themselves).
 */
export async function api(path, { method = "GET", body, signal, headers = {}, ask = true } = {}) {
  for (;;) {
    const used = token;
    const init = { method, signal, headers: { ...headers } };
    if (used) init.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401 && ask && unauthorized) {
      let parsed = null;
      try { parsed = await response.json(); } catch { /* not JSON */ }
      // Sent with a token a login has replaced since: try the new one before asking.
      if (token === used) await unauthorized(new ApiError(401, parsed).message, Boolean(used));
      if (signal && signal.aborted) throw new DOMException("aborted", "AbortError");
      continue;  // the same request, with the token of the new login
    }
    return checked(response);
  }
}

async function checked(response) {
  if (!response.ok) {
    let parsed = null;
    try { parsed = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, parsed);
  }
  return response;
}

export async function json(path, options) {
  const response = await api(path, options);
  return response.status === 204 ? null : response.json();
}

/** A file of the API as an object URL (media and downloads need the token too). */
export async function blobUrl(path) {
  const response = await api(path);
  return URL.createObjectURL(await response.blob());
}

/**
 * Server-sent events read with fetch (EventSource cannot send a token).
 * `handlers` maps event names to functions of the parsed data; reconnects
 * after the server's `retry` delay unless the stream ended on its own or
 * close() was called. Returns { close }.
 */
export function events(path, handlers, { onEnd } = {}) {
  const controller = new AbortController();
  let retry = 2000;
  let closed = false;

  async function run() {
    while (!closed) {
      try {
        const response = await api(path, { signal: controller.signal, headers: { Accept: "text/event-stream" } });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let name = "message";
            let data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event:")) name = line.slice(6).trim();
              else if (line.startsWith("data:")) data += line.slice(5).trim();
              else if (line.startsWith("retry:")) retry = Number(line.slice(6)) || retry;
            }
            if (data && handlers[name]) handlers[name](JSON.parse(data));
          }
        }
        closed = true;  // the server ended the stream: nothing more will come
        if (onEnd) onEnd();
      } catch (error) {
        if (closed || controller.signal.aborted) return;
        if (error instanceof ApiError && error.status < 500) { closed = true; if (onEnd) onEnd(error); return; }
        await new Promise((resolve) => setTimeout(resolve, retry));
      }
    }
  }
  run();
  return { close() { closed = true; controller.abort(); } };
}
