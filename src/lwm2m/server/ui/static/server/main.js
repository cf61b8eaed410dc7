// The server's page: a hash router over three screens (devices, one device, security)
// and the registrations, kept live from the event stream /api/event.

import { apiJson, errorText, EventStream } from "../common/api.js";
import { securityScreen } from "../common/security.js";
import { DeviceView } from "./device.js";
import { DeviceList } from "./devices.js";

/** The registrations by endpoint, updated by the event stream; listeners hear every change. */
class Registrations {
  constructor() {
    this.byEndpoint = new Map();
    this.listeners = new Set();
    this.loaded = false;
    this.error = "";
  }

  listen(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(kind, endpoint) {
    for (const listener of this.listeners) listener(kind, endpoint);
  }

  async load() {
    try {
      const list = await apiJson("GET", "clients");
      this.byEndpoint = new Map(list.map((reg) => [reg.endpoint, reg]));
      this.loaded = true;
      this.error = "";
    } catch (error) {
      this.error = errorText(error);
    }
    this.emit("reload", null);
  }

  put(reg, kind) {
    this.byEndpoint.set(reg.endpoint, reg);
    this.emit(kind, reg.endpoint);
  }

  remove(reg) {
    this.byEndpoint.delete(reg.endpoint);
    this.emit("deregistered", reg.endpoint);
  }

  sleeping(endpoint, asleep) {
    const reg = this.byEndpoint.get(endpoint);
    if (!reg) return;
    reg.sleeping = asleep;
    this.emit(asleep ? "sleeping" : "awake", endpoint);
  }
}

const registrations = new Registrations();
const conn = document.getElementById("conn");
const app = document.getElementById("app");
let view = null;

function connectionState(state) {
  conn.className = `conn ${state}`;
  conn.textContent = { open: "live", connecting: "connecting…", closed: "closed" }[state] || state;
  if (state === "open") registrations.load(); // fill what was missed while away
}

new EventStream({}, {
  REGISTRATION: (reg) => registrations.put(reg, "registered"),
  UPDATED: (data) => registrations.put(data.registration, "updated"),
  DEREGISTRATION: (reg) => registrations.remove(reg),
  SLEEPING: (data) => registrations.sleeping(data.ep, true),
  AWAKE: (data) => registrations.sleeping(data.ep, false),
}, connectionState);

function route() {
  if (view && view.destroy) view.destroy();
  view = null;
  const hash = decodeURIComponent(location.hash.replace(/^#/, "")) || "/";
  document.getElementById("nav-devices").classList.toggle("active", !hash.startsWith("/security"));
  document.getElementById("nav-security").classList.toggle("active", hash.startsWith("/security"));
  if (hash.startsWith("/device/")) {
    view = new DeviceView(app, hash.slice("/device/".length), registrations);
  } else if (hash.startsWith("/security")) {
    view = securityScreen(app, {
      title: "Add a pre-shared key",
      note: "A device with a PSK here must register over DTLS (coaps) with that identity; " +
        "the next handshake uses the change. Removing a credential closes its DTLS sessions.",
    });
  } else {
    view = new DeviceList(app, registrations);
  }
}

window.addEventListener("hashchange", route);
registrations.load().then(route);
