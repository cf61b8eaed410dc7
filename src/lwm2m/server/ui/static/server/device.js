// One device: its registration, the object tree named from the object models, every
// operation on every node with its result next to the node, composite operations,
// live values, firmware update and the CoAP log.

import { api, apiJson, errorText, EventStream } from "../common/api.js";
import { ago, clock, dateTime, fill, h } from "../common/dom.js";
import { LiveChart } from "./chart.js";
import { CoapLog } from "./coaplog.js";
import { attributesEditor, instanceEditor, resourceEditor } from "./editors.js";
import { FirmwarePanel } from "./firmware.js";
import {
  COMPOSITE_FORMATS, FORMATS, nodeInstances, nodeValues, numericValue, objectsOf, operationsOf,
  parsePath, pathText, valueText,
} from "./model.js";

const MAX_NOTIFICATIONS = 50;

function button(label, className, onclick, title) {
  return h("button", { type: "button", class: className, text: label, onclick, title });
}

export class DeviceView {
  constructor(root, ep, registrations) {
    this.root = root;
    this.ep = ep;
    this.registrations = registrations;
    this.reg = registrations.byEndpoint.get(ep) || null;
    this.specs = new Map(); // object id -> model (the versions the device declared)
    this.values = new Map(); // resource path -> {type, value} or {type, values}
    this.valueListeners = new Map();
    this.logListeners = new Set();
    this.rows = new Map(); // path -> tree row
    this.observed = new Set();
    this.compositeObserved = new Set();
    this.picked = [];
    this.delayed = new Map();
    this.firmware = null;
    this.ready = false; // the tree is built once the object models are in
    this.build();
    this.unlisten = registrations.listen((kind, endpoint) => {
      if (endpoint === ep || kind === "reload") this.registrationChanged(kind);
    });
    this.stream = new EventStream({ ep }, {
      NOTIFICATION: (data) => this.notification(data),
      SEND: (data) => this.sent(data),
      COAPLOG: (entry) => {
        this.log.add(entry);
        for (const listener of this.logListeners) listener(entry);
      },
      REQUEST_RESPONSE: (data) => this.lateResponse(data),
    }, (state) => { this.streamState.textContent = state === "open" ? "" : `device stream: ${state}`; });
    this.timer = setInterval(() => this.renderHead(), 1000);
    this.init();
  }

  // ------------------------------------------------------------------ layout
  build() {
    this.head = h("div", { class: "device-head", id: "device-head" });
    this.banner = h("div", { class: "banner", id: "device-banner", hidden: true });
    this.streamState = h("span", { class: "muted" });
    this.format = h("select", { id: "format", title: "content format of Read, Observe and Write" },
      h("option", { value: "", text: "default" }), FORMATS.map((f) => h("option", { value: f, text: f })));
    this.timeout = h("input", { id: "timeout", size: 4, placeholder: "5", title: "seconds to wait for the device" });
    this.pathInput = h("input", { id: "path-input", class: "mono", placeholder: "/3/0/1", size: 14, autocomplete: "off" });
    this.pathTarget = { result: h("div", { class: "result", id: "path-result" }) };
    const pathRun = (fn) => () => {
      const checked = this.checkPath(this.pathInput.value);
      if (checked.error) return this.refuse(this.pathTarget, checked.error);
      this.reveal(checked.ids);
      return fn(checked.ids, this.pathTarget);
    };
    this.compositeFormat = h("select", { id: "composite-format" },
      h("option", { value: "", text: "default" }), COMPOSITE_FORMATS.map((f) => h("option", { value: f, text: f })));
    this.compositeAdd = h("input", { id: "composite-add", class: "mono", placeholder: "/3303/0/5700", size: 14, autocomplete: "off" });
    this.chips = h("span", { id: "composite-paths", class: "mono" });
    this.compositeTarget = { result: h("div", { class: "result", id: "composite-result" }), panel: h("div", { class: "panel", hidden: true, id: "composite-panel" }) };
    this.tree = h("div", { class: "tree", id: "tree" });
    this.chart = new LiveChart();
    this.notifications = h("ul", { class: "notif-list", id: "notifications" });
    this.log = new CoapLog();
    this.side = h("div", { class: "side" });

    fill(this.root,
      h("section", { class: "card" }, this.head, this.banner, this.streamState),
      h("section", { class: "card", id: "operations" },
        h("div", { class: "toolbar" },
          h("label", {}, "Format", this.format),
          h("label", {}, "Timeout (s)", this.timeout),
          h("label", {}, "Path", this.pathInput),
          h("button", { type: "button", id: "path-read", text: "Read", onclick: pathRun((ids, t) => this.read(ids, t)) }),
          h("button", { type: "button", id: "path-observe", class: "secondary", text: "Observe", onclick: pathRun((ids, t) => this.observe(ids, t)) }),
          h("button", { type: "button", id: "path-discover", class: "secondary", text: "Discover", onclick: pathRun((ids, t) => this.discover(ids, t)) })),
        this.pathTarget.result,
        h("div", { class: "toolbar composite-head" },
          h("strong", { text: "Composite operations on" }), this.chips),
        h("div", { class: "toolbar" },
          h("label", {}, "Add path", this.compositeAdd),
          h("button", { type: "button", id: "composite-add-button", class: "secondary small", text: "Add", onclick: () => this.addPicked(this.compositeAdd.value) }),
          h("label", {}, "Format", this.compositeFormat),
          h("button", { type: "button", id: "composite-read", text: "Read composite", onclick: () => this.compositeRead() }),
          h("button", { type: "button", id: "composite-observe", class: "secondary", text: "Observe composite", onclick: () => this.compositeObserve() }),
          h("button", { type: "button", id: "composite-cancel", class: "secondary", text: "Cancel composite observe", onclick: () => this.compositeCancel() }),
          h("button", { type: "button", id: "composite-write", class: "secondary", text: "Write composite…", onclick: () => this.compositeWriteEditor() })),
        this.compositeTarget.panel,
        this.compositeTarget.result),
      h("div", { class: "layout" },
        h("section", { class: "card" },
          h("div", { class: "card-head" }, h("h2", { text: "Objects" }), h("span", { class: "spacer" }),
            button("Expand all", "secondary small", () => this.expandAll(true)),
            button("Collapse all", "secondary small", () => this.expandAll(false))),
          this.tree),
        h("div", {},
          h("section", { class: "card", id: "live" },
            h("div", { class: "card-head" }, h("h2", { text: "Live values" }), h("span", { class: "spacer" }),
              button("Clear", "secondary small", () => { this.chart.clear(); fill(this.notifications); })),
            this.chart.el,
            h("h3", { text: "Last notifications" }),
            this.notifications),
          this.side)),
      this.log.el);
    this.renderChips();
  }

  async init() {
    const [own, all] = await Promise.allSettled([
      apiJson("GET", `objectspecs/${encodeURIComponent(this.ep)}`),
      apiJson("GET", "objectspecs"),
    ]);
    // the models of all known objects name what the device's own list lacks (newest version)
    if (all.status === "fulfilled") for (const spec of all.value) this.specs.set(spec.id, spec);
    if (own.status === "fulfilled") for (const spec of own.value) this.specs.set(spec.id, spec);
    this.ready = true;
    this.registrationChanged("init");
  }

  // ------------------------------------------------------------ registration
  registrationChanged(kind) {
    const reg = this.registrations.byEndpoint.get(this.ep);
    if (reg) {
      this.reg = reg;
      this.banner.hidden = true;
    } else if (kind === "deregistered" || (kind === "reload" && this.registrations.loaded) || kind === "init") {
      this.banner.hidden = false;
      this.banner.textContent = this.reg
        ? `${this.ep} deregistered at ${clock(Date.now()).slice(0, 8)}: operations fail until it registers again.`
        : `${this.ep} is not registered.`;
    }
    this.renderHead();
    if (this.reg && this.ready) this.syncTree();
  }

  renderHead() {
    const reg = this.reg;
    const fact = (label, value) => h("span", { class: "fact" }, `${label} `, h("b", { text: value }));
    if (!reg) {
      fill(this.head, h("a", { href: "#/", text: "← devices" }), h("h1", { id: "device-name", text: this.ep }));
      return;
    }
    const queue = reg.queuemode ? (reg.sleeping ? "queue mode, sleeping" : "queue mode, awake") : "no";
    fill(this.head,
      h("a", { href: "#/", text: "← devices" }),
      h("h1", { id: "device-name", text: reg.endpoint }),
      fact("LwM2M", reg.lwM2mVersion),
      fact("binding", reg.bindingMode),
      fact("lifetime", `${reg.lifetime} s`),
      fact("last seen", ago(reg.lastUpdate)),
      fact("queue", queue),
      fact("secure", reg.secure ? "DTLS" : "no"),
      fact("address", reg.address),
      fact("registered", dateTime(reg.registrationDate)));
  }

  // -------------------------------------------------------------------- tree
  syncTree() {
    const objects = objectsOf(this.reg);
    for (const [path, row] of this.rows) {
      if (row.kind === "object" && !objects.has(row.ids[0])) this.removeRow(path);
    }
    for (const [oid, iids] of objects) {
      const objectRow = this.rows.get(`/${oid}`) || this.makeRow("object", [oid]);
      this.tree.append(objectRow.el); // in object id order
      for (const [path, row] of this.rows) {
        if (row.kind === "instance" && row.ids[0] === oid && !iids.includes(row.ids[1])) this.removeRow(path);
      }
      for (const iid of iids) this.ensureInstance(oid, iid);
    }
    if (objects.has(5) && !this.firmware) {
      this.firmware = new FirmwarePanel(this);
      this.side.append(this.firmware.el);
    }
  }

  ensureInstance(oid, iid) {
    const path = pathText([oid, iid]);
    if (this.rows.has(path)) return this.rows.get(path);
    const objectRow = this.rows.get(`/${oid}`) || this.makeRow("object", [oid]);
    const row = this.makeRow("instance", [oid, iid]);
    const siblings = [...objectRow.children.children];
    const after = siblings.find((el) => Number(el.dataset.path.split("/")[2]) > iid);
    objectRow.children.insertBefore(row.el, after || null);
    const spec = this.specs.get(oid);
    for (const rdef of spec ? spec.resourcedefs : []) this.ensureResource(oid, iid, rdef);
    return row;
  }

  ensureResource(oid, iid, rdef) {
    const path = pathText([oid, iid, rdef.id]);
    if (this.rows.has(path)) return this.rows.get(path);
    const instanceRow = this.rows.get(pathText([oid, iid]));
    const row = this.makeRow("resource", [oid, iid, rdef.id], rdef);
    instanceRow.children.append(row.el);
    return row;
  }

  /** The model of resource ids (or a stand-in for a resource the models do not know). */
  resourceDef(ids, type) {
    const spec = this.specs.get(ids[0]);
    const found = spec && spec.resourcedefs.find((r) => r.id === ids[2]);
    if (found) return found;
    return {
      id: ids[2], name: `Resource ${ids[2]}`, operations: "RWE", instancetype: "single",
      type: (type || "string").toLowerCase(), mandatory: false, range: "", units: "",
    };
  }

  makeRow(kind, ids, rdef) {
    const path = pathText(ids);
    const spec = this.specs.get(ids[0]);
    const row = { kind, ids, path, rdef, expanded: false, panelKind: null };
    row.toggle = kind === "resource"
      ? h("span", { class: "toggle" })
      : h("button", { type: "button", class: "toggle", text: "▸", onclick: () => this.expand(row, !row.expanded), title: "expand" });
    row.pick = h("input", {
      type: "checkbox", class: "pick", title: "select for the composite operations",
      onchange: () => (row.pick.checked ? this.addPicked(path) : this.removePicked(path)),
    });
    row.value = h("span", { class: "value" });
    row.ops = h("span", { class: "ops" });
    row.panel = h("div", { class: "panel", hidden: true });
    row.result = h("div", { class: "result" });
    row.children = h("div", { class: "children", hidden: true });
    let name;
    let meta = "";
    if (kind === "object") {
      name = spec ? spec.name : `Object ${ids[0]}`;
      meta = spec ? `v${spec.version}${spec.instancetype === "multiple" ? ", multiple" : ""}` : "no model";
    } else if (kind === "instance") {
      name = `Instance ${ids[1]}`;
    } else {
      name = rdef.name;
      meta = `${rdef.type}${rdef.instancetype === "multiple" ? "[]" : ""} ${rdef.operations}${rdef.units ? ` ${rdef.units}` : ""}`;
    }
    row.el = h("div", { class: `node ${kind}`, dataset: { path } },
      h("div", { class: "line" },
        row.toggle, row.pick,
        h("span", { class: "path", text: path }),
        h("span", { class: "name", text: name, title: (kind === "resource" ? rdef.description : spec && spec.description) || "" }),
        row.value,
        h("span", { class: "meta", text: meta }),
        row.ops),
      row.panel, row.result, row.children);
    this.renderOps(row);
    this.rows.set(path, row);
    if (kind === "resource") this.renderValue(row);
    return row;
  }

  removeRow(path) {
    for (const key of [...this.rows.keys()]) {
      if (key === path || key.startsWith(`${path}/`)) {
        const row = this.rows.get(key);
        row.el.remove();
        this.rows.delete(key);
      }
    }
  }

  renderOps(row) {
    const { kind, ids } = row;
    const ops = [];
    const observed = this.observed.has(row.path);
    const observe = observed
      ? button("Cancel obs", "on", () => this.cancelObserve(ids, row), "cancel the observation")
      : button("Observe", "", () => this.observe(ids, row));
    if (kind === "object") {
      ops.push(button("Read", "", () => this.read(ids, row)), observe,
        button("Discover", "", () => this.discover(ids, row)),
        button("Attributes", "", () => this.attributesPanel(row)),
        button("Create", "", () => this.createPanel(row)));
    } else if (kind === "instance") {
      ops.push(button("Read", "", () => this.read(ids, row)),
        button("Write", "", () => this.instanceWritePanel(row)), observe,
        button("Discover", "", () => this.discover(ids, row)),
        button("Attributes", "", () => this.attributesPanel(row)),
        button("Delete", "", () => this.deletePanel(row)));
    } else {
      const can = operationsOf(row.rdef);
      if (can.read) ops.push(button("Read", "", () => this.read(ids, row)));
      if (can.write) ops.push(button("Write", "", () => this.writePanel(row)));
      if (can.execute) ops.push(button("Exec", "", () => this.executePanel(row)));
      if (can.read) ops.push(observe);
      ops.push(button("Discover", "", () => this.discover(ids, row)),
        button("Attributes", "", () => this.attributesPanel(row)));
    }
    fill(row.ops, ops);
    row.el.classList.toggle("observed", observed);
  }

  expand(row, open) {
    row.expanded = open;
    row.children.hidden = !open;
    row.toggle.textContent = open ? "▾" : "▸";
  }

  expandAll(open) {
    for (const row of this.rows.values()) if (row.kind !== "resource") this.expand(row, open);
  }

  /** Open the tree down to ids and bring the node into view. */
  reveal(ids) {
    for (let level = 1; level < ids.length; level += 1) {
      const row = this.rows.get(pathText(ids.slice(0, level)));
      if (row) this.expand(row, true);
    }
    const row = this.rows.get(pathText(ids.slice(0, 3)));
    if (row) row.el.scrollIntoView({ block: "nearest" });
  }

  // ------------------------------------------------------------------ values
  onValue(path, listener) {
    if (!this.valueListeners.has(path)) this.valueListeners.set(path, new Set());
    this.valueListeners.get(path).add(listener);
  }

  onCoapLog(listener) {
    this.logListeners.add(listener);
  }

  isObserved(path) {
    return this.observed.has(path);
  }

  setValue(path, entry) {
    let stored = entry;
    if (entry.ri !== undefined) {
      const previous = this.values.get(path);
      const values = previous && previous.values ? { ...previous.values } : {};
      values[entry.ri] = entry.value;
      stored = { type: entry.type, values };
    }
    this.values.set(path, stored);
    const ids = parsePath(path).ids;
    if (!this.rows.has(path) && this.rows.has(pathText(ids.slice(0, 2)))) {
      this.ensureResource(ids[0], ids[1], this.resourceDef(ids, stored.type));
    }
    const row = this.rows.get(path);
    if (row) {
      row.el.classList.remove("absent");
      this.renderValue(row, true);
    }
    for (const listener of this.valueListeners.get(path) || []) listener(stored);
  }

  renderValue(row, changed = false) {
    const stored = this.values.get(row.path);
    if (!stored) {
      row.value.textContent = "";
      return;
    }
    row.value.textContent = stored.values
      ? Object.entries(stored.values).map(([ri, v]) => `${ri}: ${valueText(stored.type, v)}`).join(", ") || "(no instances)"
      : valueText(stored.type, stored.value);
    row.value.title = row.value.textContent;
    if (changed) {
      row.value.classList.remove("changed");
      void row.value.offsetWidth; // restart the animation
      row.value.classList.add("changed");
    }
  }

  /** Apply a JSON node read (or notified) at ids to the tree. */
  applyContent(ids, node, complete = false) {
    for (const [oid, iid] of nodeInstances(ids, node)) this.ensureInstance(oid, iid);
    const entries = nodeValues(ids, node);
    for (const [path, entry] of entries) this.setValue(path, entry);
    if (complete && ids.length <= 2) {
      // resources missing from a whole instance are not on the device
      const present = new Set(entries.map(([path]) => path));
      for (const row of this.rows.values()) {
        const inside = row.kind === "resource" && row.ids[0] === ids[0] && (ids.length === 1 || row.ids[1] === ids[1]);
        // only what a Read returns can be missing from it (not executable resources)
        if (inside && operationsOf(row.rdef).read) row.el.classList.toggle("absent", !present.has(row.path));
      }
    }
    return entries;
  }

  // ------------------------------------------------------------- operations
  showResult(target, { state, status, detail }) {
    target.result.className = `result ${state}`;
    target.result.dataset.status = status;
    fill(target.result,
      h("span", { class: "status", text: status }),
      h("span", { class: "detail", text: detail || "" }),
      h("span", { class: "when", text: clock(Date.now()).slice(0, 8) }));
  }

  /** A refusal by the page itself: nothing was sent. */
  refuse(target, why) {
    this.showResult(target, { state: "err", status: "not sent", detail: why });
    return null;
  }

  /**
   * One request to the device: the result (the response's status, or the HTTP
   * refusal) appears in target.result. Resolves with the response object on
   * success, null otherwise.
   */
  async operate(target, label, method, route, options = {}, describe = () => "") {
    this.showResult(target, { state: "pending", status: "…", detail: `${label}…` });
    const query = { ...(options.query || {}) };
    if (query.timeout === undefined && this.timeout.value.trim()) query.timeout = this.timeout.value.trim();
    let response;
    let text;
    try {
      response = await api(method, `clients/${encodeURIComponent(this.ep)}/${route}`, { ...options, query });
      text = await response.text();
    } catch (error) {
      this.showResult(target, { state: "err", status: "no answer", detail: `${label}: ${errorText(error)}` });
      return null;
    }
    if (!response.ok) {
      this.showResult(target, { state: "err", status: `HTTP ${response.status}`, detail: `${label}: ${text || response.statusText}` });
      return null;
    }
    let body = {};
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        this.showResult(target, { state: "err", status: "bad answer", detail: text.slice(0, 200) });
        return null;
      }
    }
    if (body.delayed) {
      this.delayed.set(body.requestId, { target, label, describe });
      this.showResult(target, { state: "pending", status: "QUEUED", detail: `${label}: the device sleeps; sent when it wakes up` });
      return null;
    }
    return this.finish(target, label, body, describe);
  }

  finish(target, label, body, describe) {
    if (body.success === false) {
      this.showResult(target, { state: "err", status: body.status, detail: `${label}: ${body.errormessage || "refused by the device"}` });
      return null;
    }
    this.showResult(target, { state: "ok", status: body.status || "OK", detail: describe(body) || `${label}: done` });
    return body;
  }

  lateResponse(data) {
    const waiting = this.delayed.get(data.requestId);
    if (!waiting) return;
    this.delayed.delete(data.requestId);
    const body = this.finish(waiting.target, waiting.label, data.response, waiting.describe);
    if (body && body.content && data.path) this.applyContent(parsePath(data.path).ids, body.content, true);
  }

  formatQuery() {
    return this.format.value ? { format: this.format.value } : {};
  }

  describe(ids, content) {
    if (!content) return "";
    switch (content.kind) {
      case "singleResource":
      case "resourceInstance":
        return `${pathText(ids)} = ${valueText(content.type, content.value)}`;
      case "multiResource":
        return `${pathText(ids)}: ${Object.keys(content.values).length} instance(s)`;
      case "instance":
        return `${pathText(ids)}: ${content.resources.length} resource(s)`;
      case "obj":
        return `${pathText(ids)}: ${content.instances.length} instance(s)`;
      default:
        return "";
    }
  }

  async read(ids, target) {
    const path = pathText(ids);
    const body = await this.operate(target, `Read ${path}`, "GET", path.slice(1), { query: this.formatQuery() },
      (b) => this.describe(ids, b.content));
    if (!body) return;
    this.applyContent(ids, body.content, true);
    const row = this.rows.get(path);
    if (row && row.kind !== "resource") this.expand(row, true);
  }

  async discover(ids, target) {
    const path = pathText(ids);
    await this.operate(target, `Discover ${path}`, "GET", `${path.slice(1)}/discover`, {},
      (b) => (b.objectLinks || []).map((link) => {
        const attrs = Object.entries(link.attributes || {}).map(([k, v]) => (v === null ? `;${k}` : `;${k}=${v}`)).join("");
        return `<${link.url}>${attrs}`;
      }).join("\n"));
  }

  async observe(ids, target) {
    const path = pathText(ids);
    const body = await this.operate(target, `Observe ${path}`, "POST", `${path.slice(1)}/observe`,
      { query: this.formatQuery() }, (b) => `observing: ${this.describe(ids, b.content)}`);
    if (!body) return null;
    this.observed.add(path);
    const row = this.rows.get(path);
    if (row) this.renderOps(row);
    this.plot(this.applyContent(ids, body.content), Date.now());
    return body;
  }

  observePath(path, target) {
    return this.observe(parsePath(path).ids, target);
  }

  async cancelObserve(ids, target) {
    const path = pathText(ids);
    const route = `clients/${encodeURIComponent(this.ep)}/${path.slice(1)}/observe`;
    this.showResult(target, { state: "pending", status: "…", detail: `Cancel ${path}…` });
    let response;
    let text;
    try {
      response = await api("DELETE", route, { query: { active: true } });
      text = await response.text();
      if (response.status === 404) {
        // no live observation to cancel on the wire: forget it (passive cancel)
        response = await api("DELETE", route);
        text = await response.text();
      }
    } catch (error) {
      this.showResult(target, { state: "err", status: "no answer", detail: `Cancel ${path}: ${errorText(error)}` });
      return;
    }
    if (!response.ok) {
      this.showResult(target, { state: "err", status: `HTTP ${response.status}`, detail: `Cancel ${path}: ${text}` });
      return;
    }
    const body = text ? JSON.parse(text) : {};
    this.observed.delete(path);
    const row = this.rows.get(path);
    if (row) this.renderOps(row);
    this.showResult(target, { state: "ok", status: body.status || "OK", detail: `observation of ${path} cancelled` });
  }

  togglePanel(row, kind, build) {
    if (row.panelKind === kind && !row.panel.hidden) {
      row.panel.hidden = true;
      row.panelKind = null;
      return;
    }
    row.panelKind = kind;
    fill(row.panel, build());
    row.panel.hidden = false;
    const first = row.panel.querySelector("input:not([type=checkbox]):not([type=file]), textarea, select");
    if (first) first.focus();
  }

  writePanel(row) {
    this.togglePanel(row, "write", () => {
      const editor = resourceEditor(row.rdef);
      const stored = this.values.get(row.path);
      if (stored) editor.set(stored.values || stored.value);
      const multiple = row.rdef.instancetype === "multiple";
      const replace = h("input", { type: "checkbox", class: "replace", checked: true });
      const submit = async () => {
        const result = editor.read();
        if (result.error) return this.refuse(row, result.error);
        const node = result.value;
        const body = await this.operate(row, `Write ${row.path}`, "PUT", row.path.slice(1),
          { json: node, query: { ...this.formatQuery(), replace: multiple && !replace.checked ? "false" : undefined } },
          () => `${row.path} written`);
        if (body) {
          if (node.kind === "multiResource") this.setValue(row.path, { type: node.type, values: node.values });
          else if (node.type !== "OPAQUE" || node.value.length <= 64) this.setValue(row.path, { type: node.type, value: node.value });
          row.panel.hidden = true;
        }
        return body;
      };
      return [
        h("div", { class: "row" }, h("span", { class: "rname", text: `${row.rdef.name} (${row.rdef.type})` }), editor.el),
        multiple ? h("label", { class: "check" }, replace, "replace every instance (uncheck: partial update)") : null,
        h("div", { class: "row" }, button("Write", "do-write", submit), button("Close", "secondary small", () => { row.panel.hidden = true; })),
      ];
    });
  }

  instanceWritePanel(row) {
    this.togglePanel(row, "write", () => {
      const spec = this.specs.get(row.ids[0]);
      const editor = instanceEditor(spec ? spec.resourcedefs : []);
      const replace = h("input", { type: "checkbox", class: "replace" });
      const submit = async () => {
        const result = editor.read();
        if (result.error) return this.refuse(row, result.error);
        if (!result.value.length) return this.refuse(row, "tick at least one resource to write");
        const node = { kind: "instance", id: row.ids[1], resources: result.value };
        const body = await this.operate(row, `Write ${row.path}`, "PUT", row.path.slice(1),
          { json: node, query: { ...this.formatQuery(), replace: replace.checked ? "true" : "false" } },
          () => `${result.value.length} resource(s) of ${row.path} written`);
        if (body) {
          this.applyContent(row.ids, node);
          row.panel.hidden = true;
        }
        return body;
      };
      return [editor.el,
        h("label", { class: "check" }, replace, "replace the whole instance (unchecked: partial update)"),
        h("div", { class: "row" }, button("Write", "do-write", submit), button("Close", "secondary small", () => { row.panel.hidden = true; }))];
    });
  }

  executePanel(row) {
    this.togglePanel(row, "execute", () => {
      const args = h("input", { class: "args mono", placeholder: "arguments, e.g. 0='x',1", size: 30 });
      const run = () => this.operate(row, `Execute ${row.path}`, "POST", row.path.slice(1),
        { text: args.value }, () => `${row.path} executed${args.value ? ` with ${args.value}` : ""}`);
      return h("div", { class: "row" }, h("label", {}, "Arguments (optional)", args), button("Execute", "do-exec", run));
    });
  }

  attributesPanel(row) {
    this.togglePanel(row, "attributes", () => {
      const editor = attributesEditor();
      const submit = () => {
        const result = editor.read();
        if (result.error) return this.refuse(row, result.error);
        const text = Object.entries(result.value).map(([k, v]) => (v === "" ? `${k} removed` : `${k}=${v}`)).join(", ");
        return this.operate(row, `Write-Attributes ${row.path}`, "PUT", `${row.path.slice(1)}/attributes`,
          { query: result.value }, () => `attributes of ${row.path}: ${text}`);
      };
      return [editor.el, h("div", { class: "row" }, button("Write attributes", "do-attr", submit))];
    });
  }

  createPanel(row) {
    this.togglePanel(row, "create", () => {
      const spec = this.specs.get(row.ids[0]);
      const taken = [...this.rows.values()].filter((r) => r.kind === "instance" && r.ids[0] === row.ids[0]).map((r) => r.ids[1]);
      const iid = h("input", { class: "iid", size: 6, value: String(taken.length ? Math.max(...taken) + 1 : 0) });
      const editor = instanceEditor(spec ? spec.resourcedefs : [], { preselectMandatory: true });
      const submit = async () => {
        const text = iid.value.trim();
        if (text && (!/^\d{1,5}$/.test(text) || Number(text) > 65534)) {
          return this.refuse(row, `'${text}' is not an instance id (0..65534)`);
        }
        const result = editor.read();
        if (result.error) return this.refuse(row, result.error);
        if (!text && result.value.length) return this.refuse(row, "give the instance id of an instance with values");
        const json = text ? { kind: "instance", id: Number(text), resources: result.value } : undefined;
        const body = await this.operate(row, `Create in ${row.path}`, "POST", row.path.slice(1),
          { json, query: this.formatQuery() }, (b) => `created ${b.location || ""}`);
        if (body && body.location) {
          const ids = parsePath(body.location).ids;
          if (ids.length === 2) this.ensureInstance(ids[0], ids[1]);
          else if (json) this.ensureInstance(row.ids[0], json.id);
          if (json) this.applyContent([row.ids[0], json.id], json);
          this.expand(row, true);
          row.panel.hidden = true;
        }
        return body;
      };
      return [h("div", { class: "row" }, h("label", {}, "Instance id (blank: the device chooses)", iid)), editor.el,
        h("div", { class: "row" }, button("Create", "do-create", submit), button("Close", "secondary small", () => { row.panel.hidden = true; }))];
    });
  }

  deletePanel(row) {
    this.togglePanel(row, "delete", () => {
      const run = async () => {
        const body = await this.operate(row, `Delete ${row.path}`, "DELETE", row.path.slice(1), {}, () => `${row.path} deleted`);
        if (body) {
          const objectRow = this.rows.get(`/${row.ids[0]}`);
          this.removeRow(row.path);
          if (objectRow) this.showResult(objectRow, { state: "ok", status: body.status, detail: `${row.path} deleted` });
        }
      };
      return h("div", { class: "row" }, h("span", { text: `Delete instance ${row.path} on the device?` }),
        button("Delete", "danger do-delete", run), button("Keep it", "secondary small", () => { row.panel.hidden = true; }));
    });
  }

  // ------------------------------------------------------------ paths typed
  /** A path typed by a person, checked against the registration and the models. */
  checkPath(text, { allowRoot = false } = {}) {
    const parsed = parsePath(text, { allowRoot });
    if (parsed.error) return parsed;
    const ids = parsed.ids;
    const shown = ids.length ? pathText(ids) : "/";
    if (!ids.length) return { ids };
    if (!this.reg) return { error: `${this.ep} is not registered` };
    const objects = objectsOf(this.reg);
    const spec = this.specs.get(ids[0]);
    const objectName = spec ? `${spec.name} (${ids[0]})` : `object ${ids[0]}`;
    if (!objects.has(ids[0])) return { error: `unknown path ${shown}: the device has no ${objectName}` };
    const instances = objects.get(ids[0]);
    if (ids.length >= 2 && !instances.includes(ids[1]) && !this.rows.has(pathText(ids.slice(0, 2)))) {
      const list = instances.length ? instances.join(", ") : "none";
      return { error: `unknown path ${shown}: ${objectName} has no instance ${ids[1]} (instances: ${list})` };
    }
    if (ids.length >= 3 && spec) {
      const rdef = spec.resourcedefs.find((r) => r.id === ids[2]);
      if (!rdef) return { error: `unknown path ${shown}: ${objectName} has no resource ${ids[2]}` };
      if (ids.length === 4 && rdef.instancetype !== "multiple") {
        return { error: `unknown path ${shown}: ${rdef.name} is a single resource, with no instances` };
      }
    }
    return { ids };
  }

  // --------------------------------------------------------------- composite
  addPicked(text) {
    const checked = this.checkPath(text, { allowRoot: true });
    if (checked.error) return this.refuse(this.compositeTarget, checked.error);
    const path = checked.ids.length ? pathText(checked.ids) : "/";
    if (!this.picked.includes(path)) this.picked.push(path);
    const row = this.rows.get(path);
    if (row) row.pick.checked = true;
    this.compositeAdd.value = "";
    this.renderChips();
    return path;
  }

  removePicked(path) {
    this.picked = this.picked.filter((p) => p !== path);
    const row = this.rows.get(path);
    if (row) row.pick.checked = false;
    this.renderChips();
  }

  renderChips() {
    fill(this.chips, this.picked.length
      ? this.picked.map((path) => h("span", { class: "badge obs chip", dataset: { path } }, path,
        h("button", { type: "button", class: "toggle", text: "×", title: "remove", onclick: () => this.removePicked(path) })))
      : h("span", { class: "muted", text: "tick nodes in the tree, or add a path" }));
  }

  compositeQuery() {
    const query = { paths: this.picked.join(",") };
    if (this.compositeFormat.value) query.format = this.compositeFormat.value;
    return query;
  }

  applyComposite(content) {
    const entries = [];
    for (const [path, node] of Object.entries(content || {})) {
      entries.push(...this.applyContent(parsePath(path, { allowRoot: true }).ids, node));
    }
    return entries;
  }

  async compositeRead() {
    if (!this.picked.length) return this.refuse(this.compositeTarget, "select at least one path");
    const body = await this.operate(this.compositeTarget, `Read-Composite ${this.picked.join(", ")}`, "GET", "composite",
      { query: this.compositeQuery() }, (b) => Object.entries(b.content || {}).map(([p, n]) => this.describe(parsePath(p, { allowRoot: true }).ids, n)).join("\n"));
    if (body) this.applyComposite(body.content);
    return body;
  }

  async compositeObserve() {
    if (!this.picked.length) return this.refuse(this.compositeTarget, "select at least one path");
    const key = this.picked.join(",");
    const body = await this.operate(this.compositeTarget, `Observe-Composite ${key}`, "POST", "composite/observe",
      { query: this.compositeQuery() }, () => `observing ${this.picked.join(", ")}`);
    if (body) {
      this.compositeObserved.add(key);
      this.plot(this.applyComposite(body.content), Date.now());
    }
    return body;
  }

  async compositeCancel() {
    if (!this.picked.length) return this.refuse(this.compositeTarget, "select the paths of the observation to cancel");
    const key = this.picked.join(",");
    const body = await this.operate(this.compositeTarget, `Cancel Observe-Composite ${key}`, "DELETE", "composite/observe",
      { query: { paths: key, active: true } }, () => `observation of ${this.picked.join(", ")} cancelled`);
    if (body) this.compositeObserved.delete(key);
    return body;
  }

  compositeWriteEditor() {
    const panel = this.compositeTarget.panel;
    if (!panel.hidden) {
      panel.hidden = true;
      return null;
    }
    const resources = [];
    for (const path of this.picked) {
      const parsed = parsePath(path);
      if (parsed.error || parsed.ids.length < 3) {
        return this.refuse(this.compositeTarget, `Write-Composite takes resource paths; ${path} is not one`);
      }
      const rdef = this.resourceDef(parsed.ids);
      if (!operationsOf(rdef).write) return this.refuse(this.compositeTarget, `${path} (${rdef.name}) is not writable`);
      resources.push({ path, rdef, editor: resourceEditor(rdef) });
    }
    if (!resources.length) return this.refuse(this.compositeTarget, "select the writable resources to write");
    const submit = async () => {
      const json = {};
      for (const { path, editor } of resources) {
        const result = editor.read();
        if (result.error) return this.refuse(this.compositeTarget, result.error);
        json[path] = result.value;
      }
      const body = await this.operate(this.compositeTarget, `Write-Composite ${Object.keys(json).join(", ")}`, "PUT", "composite",
        { json, query: this.compositeFormat.value ? { format: this.compositeFormat.value } : {} },
        () => `${Object.keys(json).length} resource(s) written`);
      if (body) {
        for (const [path, node] of Object.entries(json)) this.applyContent(parsePath(path).ids, node);
        panel.hidden = true;
      }
      return body;
    };
    fill(panel,
      resources.map(({ path, rdef, editor }) => h("div", { class: "row", dataset: { path } },
        h("span", { class: "rname mono", text: `${path} ${rdef.name}` }), editor.el)),
      h("div", { class: "row" }, button("Write composite", "do-write-composite", submit)));
    panel.hidden = false;
    return null;
  }

  // ------------------------------------------------------------ notifications
  plot(entries, t) {
    for (const [path, entry] of entries) {
      if (entry.values || entry.ri !== undefined) continue;
      const number = numericValue(entry.type, entry.value);
      if (number !== null) this.chart.add(path, t, number);
    }
  }

  listNotification(kind, text) {
    this.notifications.prepend(h("li", {}, `${clock(Date.now())} ${kind} ${text}`));
    while (this.notifications.children.length > MAX_NOTIFICATIONS) this.notifications.lastElementChild.remove();
  }

  notification(data) {
    const now = Date.now();
    const parts = data.kind === "composite" ? Object.entries(data.val || {}) : [[data.res, data.val]];
    for (const [path, node] of parts) {
      const ids = parsePath(path, { allowRoot: true }).ids;
      const entries = this.applyContent(ids, node);
      this.plot(entries, now);
      this.listNotification("NOTIFY", entries.map(([p, e]) => `${p} = ${e.values ? JSON.stringify(e.values) : valueText(e.type, e.value)}`).join(", "));
    }
  }

  sent(data) {
    const now = Date.now();
    const entries = [];
    for (const [path, node] of Object.entries(data.val || {})) entries.push(...this.applyContent(parsePath(path).ids, node));
    this.plot(entries, now);
    this.listNotification("SEND", entries.map(([p, e]) => `${p} = ${valueText(e.type, e.value)}`).join(", "));
  }

  destroy() {
    this.stream.close();
    this.unlisten();
    clearInterval(this.timer);
    if (this.firmware) this.firmware.destroy();
  }
}
