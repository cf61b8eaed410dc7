// The DTLS credentials screen (/api/security/clients), on both pages: the server's
// clients' PSKs, or the bootstrap PSKs of the bootstrap server.

import { api, apiJson, errorText, HttpError } from "./api.js";
import { fill, h } from "./dom.js";
import { parseHex, randomHex } from "./hex.js";

/** PSKs longer than this are refused by the servers' DTLS (Mbed TLS 2.28). */
const MAX_KEY_BYTES = 32;

function credentialRow(info, onDelete) {
  const tls = info.tls || {};
  const details = tls.details || {};
  let identity = "";
  let key = "";
  if (tls.mode === "psk") {
    identity = details.identity;
    key = details.key;
  } else if (tls.mode === "rpk") {
    key = details.key;
  }
  return h("tr", { dataset: { endpoint: info.endpoint } },
    h("td", { class: "mono", text: info.endpoint }),
    h("td", { text: (tls.mode || (info.oscore ? "oscore" : "?")).toUpperCase() }),
    h("td", { class: "mono", text: identity }),
    h("td", { class: "mono key", text: key, title: key }),
    h("td", {}, h("button", { class: "danger small delete", text: "Remove", onclick: () => onDelete(info.endpoint) })));
}

/**
 * Render the screen into root. title: the heading; note: one sentence under it.
 * Returns {refresh}.
 */
export function securityScreen(root, { title, note }) {
  const status = h("div", { class: "result", id: "psk-status", role: "status" });
  const endpoint = h("input", { id: "psk-endpoint", required: true, placeholder: "endpoint name", autocomplete: "off" });
  const identity = h("input", { id: "psk-identity", placeholder: "PSK identity (default: the endpoint)", autocomplete: "off" });
  const key = h("input", { id: "psk-key", class: "mono", placeholder: "key in hex, e.g. 000102030405060708090a0b0c0d0e0f", autocomplete: "off" });
  const body = h("tbody");
  const table = h("table", { id: "security-table", class: "grid" },
    h("thead", {}, h("tr", {}, ["Endpoint", "Mode", "Identity", "Key", ""].map((t) => h("th", { text: t })))),
    body);

  function show(ok, text) {
    status.className = `result ${ok ? "ok" : "err"}`;
    status.textContent = text;
  }

  async function refresh() {
    try {
      const infos = await apiJson("GET", "security/clients");
      infos.sort((a, b) => a.endpoint.localeCompare(b.endpoint));
      fill(body, infos.length
        ? infos.map((info) => credentialRow(info, remove))
        : h("tr", { class: "empty" }, h("td", { colspan: 5, text: "No credentials." })));
    } catch (error) {
      show(false, `Could not list the credentials: ${errorText(error)}`);
    }
  }

  async function remove(name) {
    try {
      const response = await api("DELETE", `security/clients/${encodeURIComponent(name)}`);
      const text = await response.text();
      if (!response.ok) throw new HttpError(response.status, text);
      show(true, text.includes("not_found") ? `${name} had no credential.` : `Credential of ${name} removed.`);
    } catch (error) {
      show(false, `Not removed: ${errorText(error)}`);
    }
    await refresh();
  }

  async function add(event) {
    event.preventDefault();
    const name = endpoint.value.trim();
    if (!name) return show(false, "Give the endpoint name.");
    const parsed = parseHex(key.value, { maxBytes: MAX_KEY_BYTES });
    if (parsed.error) return show(false, `Key not sent: ${parsed.error}.`);
    const info = {
      endpoint: name,
      tls: { mode: "psk", details: { identity: identity.value.trim() || name, key: parsed.hex } },
    };
    try {
      await apiJson("PUT", "security/clients/", { json: info });
      show(true, `PSK of ${name} stored (identity ${info.tls.details.identity}).`);
      endpoint.value = "";
      identity.value = "";
      key.value = "";
    } catch (error) {
      show(false, `Not stored: ${errorText(error)}`);
    }
    await refresh();
  }

  fill(root,
    h("section", { class: "card" },
      h("h2", { text: title }),
      h("p", { class: "muted", text: note }),
      h("form", { id: "psk-form", class: "inline-form", onsubmit: add },
        h("label", {}, "Endpoint", endpoint),
        h("label", {}, "Identity", identity),
        h("label", { class: "wide" }, "Key (hex)", key),
        h("button", { type: "button", class: "secondary", text: "Random key", onclick: () => { key.value = randomHex(16); } }),
        h("button", { type: "submit", id: "psk-add", text: "Add PSK" })),
      status),
    h("section", { class: "card" },
      h("div", { class: "card-head" },
        h("h2", { text: "Credentials" }),
        h("button", { class: "secondary small", text: "Refresh", onclick: refresh })),
      table));
  refresh();
  return { refresh };
}
