// Bootstrap configurations: Leshan's BootstrapConfig JSON, through GET/POST/DELETE
// /api/bootstrap[/ep]. The form edits what a device needs (LwM2M server accounts:
// a Security and a Server instance each; an optional Bootstrap-Server account; the
// objects deleted first); fields the form does not show are kept as they were, and
// "Edit as JSON" edits everything.

import { api, apiJson, errorText, HttpError } from "../common/api.js";
import { fill, h, toHex } from "../common/dom.js";
import { parseHex, randomHex } from "../common/hex.js";

const MODES = ["NO_SEC", "PSK", "RPK", "X509"];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const bytesOf = (array) => Uint8Array.from(array || [], (b) => b & 0xff);
const unsigned = (bytes) => Array.from(bytes);

/** A BootstrapConfig's accounts: [{secId, sec, srvId, srv}] and the bootstrap one. */
function accountsOf(config) {
  const security = Object.entries(config.security || {}).map(([id, sec]) => [Number(id), sec]);
  const servers = Object.entries(config.servers || {}).map(([id, srv]) => [Number(id), srv]);
  const used = new Set();
  const accounts = [];
  let bootstrap = null;
  for (const [secId, sec] of security) {
    if (sec.bootstrapServer) {
      if (!bootstrap) bootstrap = { secId, sec };
      continue;
    }
    const match = servers.find(([srvId, srv]) => !used.has(srvId) && srv.shortId === sec.serverId);
    if (match) used.add(match[0]);
    accounts.push({ secId, sec, srvId: match ? match[0] : null, srv: match ? match[1] : null });
  }
  for (const [srvId, srv] of servers) {
    if (!used.has(srvId)) accounts.push({ secId: null, sec: null, srvId, srv });
  }
  return { accounts, bootstrap };
}

function freeId(taken, from) {
  let id = from;
  while (taken.has(id)) id += 1;
  taken.add(id);
  return id;
}

/** The credential fields of a Security instance, for a mode (PSK: identity and key). */
function credentialFields(sec, prefix) {
  const mode = h("select", { class: "mode" }, MODES.map((m) => h("option", { value: m, text: m })));
  mode.value = sec && sec.securityMode ? sec.securityMode : "NO_SEC";
  const identity = h("input", { class: "identity", placeholder: "PSK identity", autocomplete: "off" });
  const key = h("input", { class: "key mono", placeholder: "PSK in hex", size: 34, autocomplete: "off" });
  const own = h("input", { class: "own mono", placeholder: "DER hex", size: 30 });
  const server = h("input", { class: "server-key mono", placeholder: "DER hex", size: 30 });
  const secret = h("input", { class: "secret mono", placeholder: "DER hex", size: 30 });
  if (sec) {
    if (sec.securityMode === "PSK") {
      identity.value = decoder.decode(bytesOf(sec.publicKeyOrId));
      key.value = toHex(bytesOf(sec.secretKey));
    } else {
      own.value = toHex(bytesOf(sec.publicKeyOrId));
      server.value = toHex(bytesOf(sec.serverPublicKey));
      secret.value = toHex(bytesOf(sec.secretKey));
    }
  }
  const psk = h("span", { class: "inline-form" },
    h("label", {}, "Identity", identity),
    h("label", { class: "wide" }, "Key (hex)", key),
    h("button", { type: "button", class: "secondary small", text: "Random key", onclick: () => { key.value = randomHex(16); } }));
  const certs = h("span", { class: "inline-form" },
    h("label", {}, "Own certificate or public key", own),
    h("label", {}, "Server certificate or public key", server),
    h("label", {}, "Private key", secret));
  const shown = () => {
    psk.hidden = mode.value !== "PSK";
    certs.hidden = mode.value !== "RPK" && mode.value !== "X509";
  };
  mode.addEventListener("change", shown);
  shown();
  return {
    mode, psk, certs,
    /** {publicKeyOrId, serverPublicKey, secretKey, securityMode} or {error}. */
    read() {
      const out = { securityMode: mode.value, publicKeyOrId: [], serverPublicKey: [], secretKey: [] };
      if (mode.value === "PSK") {
        if (!identity.value.trim()) return { error: `${prefix}: the PSK identity is missing` };
        const parsed = parseHex(key.value, { maxBytes: 32 });
        if (parsed.error) return { error: `${prefix}: PSK ${parsed.error}` };
        out.publicKeyOrId = unsigned(encoder.encode(identity.value.trim()));
        out.secretKey = unsigned(parsed.bytes);
      } else if (mode.value !== "NO_SEC") {
        for (const [field, input, name] of [["publicKeyOrId", own, "own key"], ["serverPublicKey", server, "server key"], ["secretKey", secret, "private key"]]) {
          const parsed = parseHex(input.value, { maxBytes: 8192 });
          if (parsed.error) return { error: `${prefix}: ${name}: ${parsed.error}` };
          out[field] = unsigned(parsed.bytes);
        }
      }
      return { value: out };
    },
  };
}

function numberField(cls, value, placeholder) {
  return h("input", { class: cls, size: 7, value: value === undefined || value === null ? "" : String(value), placeholder });
}

function readInt(input, name, { required = false, low = 0, high = 2 ** 31 - 1 } = {}) {
  const text = input.value.trim();
  if (!text) return required ? { error: `${name} is missing` } : { value: undefined };
  if (!/^\d+$/.test(text) || Number(text) < low || Number(text) > high) {
    return { error: `${name}: '${text}' is not an integer in ${low}..${high}` };
  }
  return { value: Number(text) };
}

function checkUri(uri, mode, prefix) {
  if (!/^coaps?:\/\/[^/\s]+/.test(uri)) return `${prefix}: '${uri}' is not a coap:// or coaps:// URI`;
  if (uri.startsWith("coaps://") && mode === "NO_SEC") return `${prefix}: a coaps:// URI needs a security mode other than NO_SEC`;
  if (uri.startsWith("coap://") && mode !== "NO_SEC") return `${prefix}: a coap:// URI takes NO_SEC (use coaps:// for ${mode})`;
  return "";
}

/** The form of one LwM2M server account (a Security and a Server instance). */
function serverAccount(account, onRemove) {
  const sec = account.sec || {};
  const srv = account.srv || {};
  const uri = h("input", { class: "uri", value: sec.uri || "", placeholder: "coaps://lwm2m.example:5684" });
  const shortId = numberField("short-id", srv.shortId ?? sec.serverId ?? 1, "1..65534");
  const lifetime = numberField("lifetime", srv.lifetime ?? 300, "s");
  const binding = h("input", { class: "binding", size: 4, value: srv.binding || "U" });
  const pmin = numberField("pmin", srv.defaultMinPeriod, "s");
  const pmax = numberField("pmax", srv.defaultMaxPeriod, "s");
  const storing = h("input", { type: "checkbox", class: "storing", checked: srv.notifIfDisabled !== false });
  const credentials = credentialFields(account.sec, "server account");
  const el = h("div", { class: "account server-account" },
    h("div", { class: "account-head" }, h("strong", { text: "LwM2M server account" }), h("span", { class: "spacer" }),
      h("button", { type: "button", class: "danger small remove-account", text: "Remove", onclick: () => onRemove() })),
    h("div", { class: "inline-form" },
      h("label", { class: "uri" }, "Server URI", uri),
      h("label", {}, "Short server id", shortId),
      h("label", {}, "Security mode", credentials.mode)),
    credentials.psk, credentials.certs,
    h("div", { class: "inline-form" },
      h("label", {}, "Lifetime (s)", lifetime),
      h("label", {}, "Binding", binding),
      h("label", {}, "Default pmin (s)", pmin),
      h("label", {}, "Default pmax (s)", pmax),
      h("label", { class: "check" }, storing, "store notifications while offline")));
  return {
    el,
    read(index) {
      const where = `server account ${index + 1}`;
      const creds = credentials.read();
      if (creds.error) return { error: creds.error.replace("server account", where) };
      const uriText = uri.value.trim();
      const uriProblem = checkUri(uriText, creds.value.securityMode, where);
      if (uriProblem) return { error: uriProblem };
      const id = readInt(shortId, `${where}: short server id`, { required: true, low: 1, high: 65534 });
      const life = readInt(lifetime, `${where}: lifetime`, { required: true, low: 1 });
      const min = readInt(pmin, `${where}: default pmin`);
      const max = readInt(pmax, `${where}: default pmax`);
      for (const result of [id, life, min, max]) if (result.error) return result;
      if (!/^[UTSNQ]+$/.test(binding.value.trim())) return { error: `${where}: binding '${binding.value}' is not made of U, T, S, N, Q` };
      const security = { ...sec, uri: uriText, bootstrapServer: false, ...creds.value, serverId: id.value };
      const server = {
        ...srv, shortId: id.value, lifetime: life.value, binding: binding.value.trim(), notifIfDisabled: storing.checked,
      };
      for (const [key, result] of [["defaultMinPeriod", min], ["defaultMaxPeriod", max]]) {
        if (result.value === undefined) delete server[key];
        else server[key] = result.value;
      }
      return { value: { security, server, secId: account.secId, srvId: account.srvId } };
    },
  };
}

/** The form of the Bootstrap-Server account (optional). */
function bootstrapAccount(account) {
  const sec = (account && account.sec) || {};
  const include = h("input", { type: "checkbox", id: "bs-include", checked: Boolean(account) });
  const uri = h("input", { class: "uri", value: sec.uri || "", placeholder: "coaps://bootstrap.example:5784" });
  const holdOff = numberField("hold-off", sec.clientOldOffTime, "s");
  const credentials = credentialFields(account && account.sec, "bootstrap account");
  const body = h("div", {},
    h("div", { class: "inline-form" },
      h("label", { class: "uri" }, "Bootstrap server URI", uri),
      h("label", {}, "Security mode", credentials.mode),
      h("label", {}, "Client hold off (s)", holdOff)),
    credentials.psk, credentials.certs);
  const shown = () => { body.hidden = !include.checked; };
  include.addEventListener("change", shown);
  shown();
  return {
    el: h("div", { class: "account bootstrap-account" },
      h("label", { class: "check" }, include, "write a Bootstrap-Server account (for a later bootstrap)"), body),
    read() {
      if (!include.checked) return { value: null };
      const creds = credentials.read();
      if (creds.error) return creds;
      const uriText = uri.value.trim();
      const problem = checkUri(uriText, creds.value.securityMode, "bootstrap account");
      if (problem) return { error: problem };
      const hold = readInt(holdOff, "bootstrap account: client hold off");
      if (hold.error) return hold;
      const security = { ...sec, uri: uriText, bootstrapServer: true, ...creds.value };
      delete security.serverId;
      if (hold.value === undefined) delete security.clientOldOffTime;
      else security.clientOldOffTime = hold.value;
      return { value: { security, secId: account ? account.secId : null } };
    },
  };
}

/** "/0, /1 /5" -> ["/0", "/1", "/5"], or {error}. */
function parseToDelete(text) {
  const paths = text.split(/[\s,]+/).filter(Boolean);
  for (const path of paths) {
    if (!/^\/\d{1,5}(\/\d{1,5}){0,3}$/.test(path) && path !== "/") {
      return { error: `objects to delete: '${path}' is not a path such as /0 or /1/0` };
    }
  }
  return { value: paths };
}

export class ConfigEditor {
  /** endpoint: the configuration to edit, or null for a new one. */
  constructor(root, endpoint) {
    this.root = root;
    this.endpoint = endpoint;
    this.original = {};
    this.accounts = [];
    this.error = h("div", { class: "result", id: "config-error" });
    this.name = h("input", { id: "config-endpoint", placeholder: "endpoint name", autocomplete: "off" });
    this.toDelete = h("input", { id: "config-delete", class: "mono", size: 30, placeholder: "/0 /1" });
    this.list = h("div", { id: "server-accounts" });
    this.jsonMode = h("input", { type: "checkbox", id: "json-mode", onchange: () => this.switchMode() });
    this.json = h("textarea", { id: "config-json", rows: 22, hidden: true });
    this.form = h("div", { id: "config-form" });
    fill(root, h("section", { class: "card" }, h("p", { class: "muted", text: "Loading…" })));
    this.load();
  }

  async load() {
    if (this.endpoint !== null) {
      try {
        const all = await apiJson("GET", "bootstrap");
        this.original = all[this.endpoint];
        if (!this.original) {
          fill(this.root, h("section", { class: "card" }, h("div", { class: "result err", text: `No configuration for ${this.endpoint}.` }), h("a", { href: "#/", text: "← configurations" })));
          return;
        }
      } catch (error) {
        fill(this.root, h("section", { class: "card" }, h("div", { class: "result err", text: errorText(error) })));
        return;
      }
    }
    this.render();
  }

  render() {
    const { accounts, bootstrap } = accountsOf(this.original);
    this.name.value = this.endpoint || "";
    this.name.disabled = this.endpoint !== null;
    this.toDelete.value = (this.original.toDelete || (this.endpoint === null ? ["/0", "/1"] : [])).join(" ");
    this.accounts = [];
    fill(this.list);
    for (const account of accounts) this.addAccount(account);
    if (this.endpoint === null && !accounts.length) this.addAccount({ secId: null, sec: null, srvId: null, srv: null });
    this.bootstrap = bootstrapAccount(bootstrap);
    fill(this.form,
      h("div", { class: "inline-form" },
        h("label", {}, "Endpoint", this.name),
        h("label", {}, "Objects to delete first (toDelete)", this.toDelete)),
      this.list,
      h("button", { type: "button", class: "secondary small", id: "add-account", text: "+ LwM2M server account", onclick: () => this.addAccount({ secId: null, sec: null, srvId: null, srv: null }) }),
      this.bootstrap.el);
    fill(this.root, h("section", { class: "card", id: "config-editor" },
      h("div", { class: "card-head" },
        h("h2", { text: this.endpoint === null ? "New bootstrap configuration" : `Configuration of ${this.endpoint}` }),
        h("span", { class: "spacer" }),
        h("label", { class: "check" }, this.jsonMode, "Edit as JSON")),
      this.form, this.json,
      this.error,
      h("div", { class: "actions" },
        h("a", { href: "#/", text: "Cancel" }),
        h("button", { type: "button", id: "config-save", text: "Save", onclick: () => this.save() }))));
  }

  addAccount(account) {
    const entry = serverAccount(account, () => {
      this.accounts = this.accounts.filter((a) => a !== entry);
      entry.el.remove();
    });
    this.accounts.push(entry);
    this.list.append(entry.el);
  }

  /** The BootstrapConfig the form describes, or {error}. */
  fromForm() {
    const toDelete = parseToDelete(this.toDelete.value);
    if (toDelete.error) return toDelete;
    const config = { ...this.original, toDelete: toDelete.value, servers: {}, security: {} };
    const secIds = new Set();
    const srvIds = new Set();
    const read = [];
    for (const [index, account] of this.accounts.entries()) {
      const result = account.read(index);
      if (result.error) return result;
      read.push(result.value);
      if (result.value.secId !== null) secIds.add(result.value.secId);
      if (result.value.srvId !== null) srvIds.add(result.value.srvId);
    }
    const bs = this.bootstrap.read();
    if (bs.error) return bs;
    if (bs.value && bs.value.secId !== null) secIds.add(bs.value.secId);
    if (bs.value) config.security[bs.value.secId ?? freeId(secIds, 0)] = bs.value.security;
    for (const account of read) {
      config.security[account.secId ?? freeId(secIds, 1)] = account.security;
      config.servers[account.srvId ?? freeId(srvIds, 0)] = account.server;
    }
    return { value: config };
  }

  switchMode() {
    if (this.jsonMode.checked) {
      const result = this.fromForm();
      if (result.error) {
        this.jsonMode.checked = false;
        this.show(false, `Fix the form first: ${result.error}`);
        return;
      }
      this.json.value = JSON.stringify(result.value, null, 2);
    } else {
      try {
        this.original = JSON.parse(this.json.value);
      } catch (error) {
        this.jsonMode.checked = true;
        this.show(false, `The JSON does not parse: ${error.message}`);
        return;
      }
      this.render();
    }
    this.form.hidden = this.jsonMode.checked;
    this.json.hidden = !this.jsonMode.checked;
    this.show(true, "");
  }

  show(ok, text) {
    this.error.className = `result ${ok ? "ok" : "err"}`;
    this.error.textContent = text;
  }

  async save() {
    const endpoint = this.name.value.trim();
    if (!endpoint) return this.show(false, "Not saved: give the endpoint name.");
    let config;
    if (this.jsonMode.checked) {
      try {
        config = JSON.parse(this.json.value);
      } catch (error) {
        return this.show(false, `Not saved: the JSON does not parse: ${error.message}`);
      }
    } else {
      const result = this.fromForm();
      if (result.error) return this.show(false, `Not saved: ${result.error}`);
      config = result.value;
    }
    try {
      await apiJson("POST", `bootstrap/${encodeURIComponent(endpoint)}`, { json: config });
    } catch (error) {
      return this.show(false, `Refused by the server: ${errorText(error)}`);
    }
    location.hash = `#/?saved=${encodeURIComponent(endpoint)}`;
    return null;
  }
}

function describeSecurity(sec) {
  const identity = sec.securityMode === "PSK" ? ` identity ${decoder.decode(bytesOf(sec.publicKeyOrId))}` : "";
  return `${sec.uri} (${sec.securityMode}${identity})`;
}

export class ConfigList {
  constructor(root) {
    this.body = h("tbody");
    this.status = h("div", { class: "result", id: "config-status" });
    const saved = /saved=([^&]+)/.exec(location.hash);
    if (saved) {
      this.status.className = "result ok";
      this.status.textContent = `Configuration of ${decodeURIComponent(saved[1])} saved.`;
    }
    fill(root, h("section", { class: "card" },
      h("div", { class: "card-head" },
        h("h2", { text: "Bootstrap configurations" }),
        h("span", { class: "spacer" }),
        h("button", { class: "secondary small", text: "Refresh", onclick: () => this.refresh() }),
        h("a", { href: "#/new", id: "config-new" }, h("button", { type: "button", text: "Add configuration" }))),
      this.status,
      h("table", { id: "config-table", class: "grid" },
        h("thead", {}, h("tr", {}, ["Endpoint", "LwM2M servers", "Bootstrap server", "Deleted first", ""].map((t) => h("th", { text: t })))),
        this.body)));
    this.refresh();
  }

  async refresh() {
    let configs;
    try {
      configs = await apiJson("GET", "bootstrap");
    } catch (error) {
      this.status.className = "result err";
      this.status.textContent = `Could not list the configurations: ${errorText(error)}`;
      return;
    }
    const names = Object.keys(configs).sort();
    fill(this.body, names.length ? names.map((name) => this.row(name, configs[name]))
      : h("tr", { class: "empty" }, h("td", { colspan: 5, text: "No configuration yet." })));
  }

  row(name, config) {
    const { accounts, bootstrap } = accountsOf(config);
    const actions = h("td", { class: "actions-cell" });
    const idle = () => fill(actions,
      h("a", { href: `#/edit/${encodeURIComponent(name)}`, class: "edit" }, h("button", { type: "button", class: "secondary small", text: "Edit" })),
      " ",
      h("button", { type: "button", class: "danger small delete", text: "Delete", onclick: confirm }));
    const confirm = () => fill(actions, `Delete ${name}? `,
      h("button", { type: "button", class: "danger small confirm-delete", text: "Delete", onclick: () => this.remove(name) }), " ",
      h("button", { type: "button", class: "secondary small", text: "Keep", onclick: idle }));
    idle();
    return h("tr", { dataset: { endpoint: name } },
      h("td", { class: "mono", text: name }),
      h("td", { class: "servers" }, h("ul", {}, accounts.map((a) => h("li", {},
        a.sec ? describeSecurity(a.sec) : "(no security)",
        a.srv ? `, short id ${a.srv.shortId}, lifetime ${a.srv.lifetime} s` : "")))),
      h("td", { class: "bootstrap", text: bootstrap ? describeSecurity(bootstrap.sec) : "—" }),
      h("td", { class: "mono", text: (config.toDelete || []).join(" ") }),
      actions);
  }

  async remove(name) {
    try {
      const response = await api("DELETE", `bootstrap/${encodeURIComponent(name)}`);
      if (!response.ok) throw new HttpError(response.status, await response.text());
      this.status.className = "result ok";
      this.status.textContent = `Configuration of ${name} deleted.`;
    } catch (error) {
      this.status.className = "result err";
      this.status.textContent = `Not deleted: ${errorText(error)}`;
    }
    await this.refresh();
  }
}
