// The REST API client of both pages: every request goes through api(), every event
// stream through EventStream. When the API answers 401 the page asks for the token
// (the server's --api-token), keeps it in sessionStorage for this tab, sends it as
// "Authorization: Bearer" and, for EventSource which cannot set headers, as
// ?access_token=. Every request carries X-Requested-With, which the API wants on
// state-changing requests with a text body.

import { h } from "./dom.js";

const TOKEN_KEY = "lwm2m.apiToken";

/** An HTTP refusal: the status and the API's text reason. */
export class HttpError extends Error {
  constructor(status, text) {
    super(text ? `HTTP ${status}: ${text}` : `HTTP ${status}`);
    this.status = status;
    this.text = text;
  }
}

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

let pendingPrompt = null;

/** Ask for the token in a modal dialog; resolves when the user gave one. */
function askToken(reason) {
  if (pendingPrompt) return pendingPrompt;
  pendingPrompt = new Promise((resolve) => {
    const input = h("input", {
      type: "password", id: "token-input", autocomplete: "off", required: true,
      placeholder: "the server's --api-token",
    });
    const dialog = h("dialog", { id: "token-dialog", class: "token-dialog" },
      h("form", {
        method: "dialog",
        onsubmit: (event) => {
          event.preventDefault();
          if (!input.value.trim()) return;
          sessionStorage.setItem(TOKEN_KEY, input.value.trim());
          dialog.close();
          dialog.remove();
          pendingPrompt = null;
          resolve();
        },
      },
      h("h2", { text: "API token required" }),
      h("p", { class: "muted", id: "token-reason", text: reason }),
      h("label", { for: "token-input", text: "Token" }),
      input,
      h("div", { class: "actions" }, h("button", { type: "submit", id: "token-submit", text: "Use token" }))));
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
  return pendingPrompt;
}

/** The URL of an API route: api/PATH?QUERY (relative to the page, so a path prefix works). */
export function apiUrl(path, query) {
  const url = new URL(`api/${path}`, document.baseURI);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === false) continue;
    url.searchParams.append(key, value === true ? "" : String(value));
  }
  return url;
}

/**
 * One API request; resolves with the Response (any status but 401).
 * options: query, json (sent as application/json), text (text/plain),
 * bytes (application/octet-stream).
 */
export async function api(method, path, options = {}) {
  const url = apiUrl(path, options.query);
  for (;;) {
    const headers = { "X-Requested-With": "lwm2m-ui" };
    const token = storedToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    let body;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    } else if (options.text !== undefined) {
      headers["Content-Type"] = "text/plain; charset=utf-8";
      body = options.text;
    } else if (options.bytes !== undefined) {
      headers["Content-Type"] = "application/octet-stream";
      body = options.bytes;
    }
    const response = await fetch(url, { method, headers, body, cache: "no-store" });
    if (response.status !== 401) return response;
    const reason = await response.text();
    forgetToken();
    await askToken(token ? `The token was refused (${reason}).` : reason);
  }
}

/** An API request whose answer is JSON (null for an empty body); HttpError otherwise. */
export async function apiJson(method, path, options = {}) {
  const response = await api(method, path, options);
  const text = await response.text();
  if (!response.ok) throw new HttpError(response.status, text);
  return text ? JSON.parse(text) : null;
}

/**
 * A server-sent event stream of /api/event (query: {ep} or nothing) that
 * reconnects by itself, asking for a token when the API wants one.
 * handlers: {NAME: (data) => ...}; onState(state) gets "open", "connecting", "closed".
 */
export class EventStream {
  constructor(query, handlers, onState = () => {}) {
    this.query = query || {};
    this.handlers = handlers;
    this.onState = onState;
    this.source = null;
    this.closed = false;
    this.retry = null;
    this.connect();
  }

  connect() {
    if (this.closed) return;
    const token = storedToken();
    const url = apiUrl("event", { ...this.query, access_token: token || undefined });
    const source = new EventSource(url);
    this.source = source;
    this.onState("connecting");
    source.onopen = () => this.onState("open");
    for (const [name, handler] of Object.entries(this.handlers)) {
      source.addEventListener(name, (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        handler(data);
      });
    }
    source.onerror = () => {
      if (this.closed || source.readyState !== EventSource.CLOSED) {
        this.onState("connecting");
        return; // the browser reconnects by itself
      }
      // refused (401, or the server went away): find out with a plain request, which
      // asks for the token when that is the reason, then open the stream again
      this.onState("connecting");
      this.retry = setTimeout(async () => {
        try {
          await api("GET", "security/clients");
        } catch {
          // unreachable: try again later
        }
        this.connect();
      }, 1000);
    };
  }

  close() {
    this.closed = true;
    clearTimeout(this.retry);
    if (this.source) this.source.close();
    this.onState("closed");
  }
}

/** The message of an error for a person: the API's text, or the error's. */
export function errorText(error) {
  if (error instanceof HttpError) return `${error.status}: ${error.text || "refused"}`;
  return error && error.message ? error.message : String(error);
}
