// Firmware update of one device: push the image (a Write of /5/0/0, sent in Block1
// blocks by the server) or host it on the server for a pull (/api/firmware, then a
// Write of the Package URI /5/0/1), Execute Update (/5/0/2), and watch State (/5/0/3)
// and Update Result (/5/0/5) through observations.

import { apiJson, errorText } from "../common/api.js";
import { bytesText, h, toHex } from "../common/dom.js";

export const STATES = { 0: "Idle", 1: "Downloading", 2: "Downloaded", 3: "Updating" };
export const RESULTS = {
  0: "Initial value",
  1: "Firmware updated successfully",
  2: "Not enough flash memory",
  3: "Out of RAM",
  4: "Connection lost during download",
  5: "Integrity check failure",
  6: "Unsupported package type",
  7: "Invalid URI",
  8: "Firmware update failed",
  9: "Unsupported protocol",
  10: "Firmware update cancelled",
  11: "Firmware update deferred",
};

const BLOCK1_RE = /Block1: (\d+)(\+?)\/(\d+)/;

export class FirmwarePanel {
  /** view: the DeviceView (operate, observe, onValue, onCoapLog). */
  constructor(view) {
    this.view = view;
    this.image = null; // {name, bytes}
    this.hosted = null; // {id, name, size, uris}
    this.pollTimer = null;
    this.pushing = false;

    this.file = h("input", { type: "file", id: "fw-file", onchange: () => this.loadFile() });
    this.info = h("span", { id: "fw-info", class: "muted", text: "no image chosen" });
    this.method = h("select", { id: "fw-method", onchange: () => this.methodChanged() },
      h("option", { value: "push", text: "Push: write the image to /5/0/0 (Block1)" }),
      h("option", { value: "http", text: "Pull over HTTP: host it here, write its URI to /5/0/1" }),
      h("option", { value: "coap", text: "Pull over CoAP: host it here, write its URI to /5/0/1" }),
      h("option", { value: "coaps", text: "Pull over CoAPs (DTLS): host it here, write its URI to /5/0/1" }));
    this.send = h("button", { id: "fw-send", text: "Send image", onclick: () => this.sendImage() });
    this.uri = h("input", { id: "fw-uri", class: "mono", placeholder: "Package URI (filled when the image is hosted)", size: 58 });
    this.writeUri = h("button", { id: "fw-write-uri", class: "secondary", text: "Write Package URI", onclick: () => this.writePackageUri() });
    this.uriRow = h("div", { class: "row", hidden: true }, h("label", {}, "Package URI (edit it if the device reaches this server under another address)", this.uri), this.writeUri);
    this.bar = h("div", { class: "bar" });
    this.progress = h("div", { class: "progress", id: "fw-progress" }, this.bar);
    this.progressText = h("span", { id: "fw-progress-text", class: "muted" });
    this.state = h("b", { id: "fw-state", text: "?" });
    this.result = h("b", { id: "fw-result", text: "?" });
    this.status = { result: h("div", { class: "result", id: "fw-status" }) };
    this.el = h("section", { class: "card", id: "firmware" },
      h("h2", { text: "Firmware update" }),
      h("div", { class: "row" }, this.file, this.info),
      h("div", { class: "row" }, h("label", {}, "Delivery", this.method), this.send),
      this.uriRow,
      this.progress, this.progressText,
      h("div", { class: "fw-state" },
        h("span", {}, "State: ", this.state),
        h("span", {}, "Update Result: ", this.result)),
      h("div", { class: "row" },
        h("button", { id: "fw-watch", class: "secondary", text: "Watch State and Result", onclick: () => this.watch() }),
        h("button", { id: "fw-update", text: "Update (execute /5/0/2)", onclick: () => this.update() })),
      this.status.result);

    view.onValue("/5/0/3", (v) => this.stateChanged(v.value));
    view.onValue("/5/0/5", (v) => { this.result.textContent = `${RESULTS[v.value] || "?"} (${v.value})`; });
    view.onCoapLog((entry) => this.block1Progress(entry));
  }

  async loadFile() {
    const chosen = this.file.files[0];
    if (!chosen) return;
    this.image = { name: chosen.name, bytes: new Uint8Array(await chosen.arrayBuffer()) };
    this.hosted = null;
    this.info.textContent = `${chosen.name}: ${bytesText(this.image.bytes.length)}`;
    this.setProgress(0, "");
  }

  methodChanged() {
    this.uriRow.hidden = this.method.value === "push";
  }

  setProgress(fraction, text) {
    const clamped = Math.max(0, Math.min(1, fraction));
    this.bar.style.width = `${(clamped * 100).toFixed(1)}%`;
    this.progress.classList.toggle("done", clamped >= 1);
    this.progress.dataset.percent = Math.round(clamped * 100);
    this.progressText.textContent = text;
  }

  async sendImage() {
    if (!this.image) {
      this.view.showResult(this.status, { state: "err", status: "not sent", detail: "Choose an image file first." });
      return;
    }
    if (!this.image.bytes.length) {
      this.view.showResult(this.status, { state: "err", status: "not sent", detail: "The image file is empty." });
      return;
    }
    await this.watch();
    if (this.method.value === "push") await this.push();
    else await this.host(this.method.value);
  }

  async push() {
    const bytes = this.image.bytes;
    this.pushing = true;
    this.setProgress(0, `pushing ${bytesText(bytes.length)}…`);
    const node = { id: 0, kind: "singleResource", type: "OPAQUE", value: toHex(bytes) };
    const body = await this.view.operate(this.status, "Write /5/0/0 (Package)", "PUT", "5/0/0",
      // Package is opaque: the device streams an application/octet-stream body block by block
      { json: node, query: { format: "OPAQUE", timeout: 600 } }, () => `${bytesText(bytes.length)} written to /5/0/0`);
    this.pushing = false;
    if (body) this.setProgress(1, `${bytesText(bytes.length)} sent`);
  }

  block1Progress(entry) {
    if (!this.pushing || entry.incoming || !this.image) return;
    const match = BLOCK1_RE.exec(entry.options || "");
    if (!match || !(entry.options || "").includes("Uri-Path: 5, 0, 0")) return;
    const size = Number(match[3]);
    const sent = match[2] === "+" ? (Number(match[1]) + 1) * size : this.image.bytes.length;
    const total = this.image.bytes.length;
    this.setProgress(sent / total, `block ${match[1]}: ${Math.min(sent, total)} of ${total} bytes sent`);
  }

  async host(scheme) {
    try {
      if (!this.hosted) {
        this.hosted = await apiJson("POST", "firmware", { bytes: this.image.bytes, query: { name: this.image.name } });
      }
    } catch (error) {
      this.view.showResult(this.status, { state: "err", status: "not hosted", detail: errorText(error) });
      return;
    }
    const uri = this.hosted.uris[scheme];
    if (!uri) {
      this.view.showResult(this.status, { state: "err", status: "not sent", detail: `The server has no ${scheme} listener to serve the image from.` });
      return;
    }
    this.uri.value = uri;
    this.uriRow.hidden = false;
    await this.writePackageUri();
  }

  async writePackageUri() {
    const uri = this.uri.value.trim();
    if (!uri) {
      this.view.showResult(this.status, { state: "err", status: "not sent", detail: "No Package URI." });
      return;
    }
    this.setProgress(0, "waiting for the device to pull the image…");
    const node = { id: 1, kind: "singleResource", type: "STRING", value: uri };
    const body = await this.view.operate(this.status, "Write /5/0/1 (Package URI)", "PUT", "5/0/1",
      { json: node }, () => `Package URI ${uri} written: the device pulls the image`);
    if (body && this.hosted && uri.startsWith("http")) this.pollServed();
  }

  /** Follow an HTTP pull by the bytes the server has sent. */
  pollServed() {
    clearInterval(this.pollTimer);
    const id = this.hosted.id;
    const started = Date.now();
    this.pollTimer = setInterval(async () => {
      try {
        const entry = (await apiJson("GET", "firmware")).find((image) => image.id === id);
        if (!entry) return clearInterval(this.pollTimer);
        if (entry.downloads > 0) {
          this.setProgress(entry.served / entry.size, `${entry.served} of ${entry.size} bytes served over HTTP`);
        }
        if ((entry.downloads > 0 && entry.served >= entry.size) || Date.now() - started > 600000) {
          clearInterval(this.pollTimer);
        }
      } catch {
        clearInterval(this.pollTimer);
      }
    }, 300);
  }

  stateChanged(value) {
    this.state.textContent = `${STATES[value] || "?"} (${value})`;
    this.state.dataset.value = value;
    if (value === 2) this.setProgress(1, "the device holds the image");
    else if (value === 1 && !this.pushing && this.method.value !== "http") {
      this.progressText.textContent = "the device is downloading…";
    }
  }

  /** Observe State and Update Result (once; the tree shows them as observed). */
  async watch() {
    for (const path of ["/5/0/3", "/5/0/5"]) {
      if (!this.view.isObserved(path)) await this.view.observePath(path, this.status);
    }
  }

  async update() {
    await this.view.operate(this.status, "Execute /5/0/2 (Update)", "POST", "5/0/2", {},
      () => "Update started: watch State and Update Result");
  }

  destroy() {
    clearInterval(this.pollTimer);
  }
}
