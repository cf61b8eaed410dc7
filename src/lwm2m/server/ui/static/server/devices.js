// The device list: every registration, live, with a filter on the endpoint name.

import { ago, dateTime, fill, h } from "../common/dom.js";

function queueText(reg) {
  if (!reg.queuemode) return h("span", { class: "badge", text: "no" });
  return reg.sleeping
    ? h("span", { class: "badge warn", text: "sleeping" })
    : h("span", { class: "badge yes", text: "awake" });
}

export class DeviceList {
  constructor(root, registrations) {
    this.registrations = registrations;
    this.filter = h("input", {
      id: "device-filter", type: "search", placeholder: "filter by endpoint name", autocomplete: "off",
      oninput: () => this.render(),
    });
    this.count = h("span", { class: "muted", id: "device-count" });
    this.body = h("tbody");
    this.error = h("div", { class: "result err", id: "device-error" });
    fill(root, h("section", { class: "card" },
      h("div", { class: "toolbar" },
        h("h2", { text: "Registered devices" }),
        h("span", { class: "spacer" }),
        this.count,
        h("label", {}, "Endpoint", this.filter)),
      this.error,
      h("table", { id: "device-table", class: "grid" },
        h("thead", {}, h("tr", {},
          ["Endpoint", "Last seen", "Registered", "Lifetime", "Binding", "LwM2M", "Queue mode", "Secure", "Address"]
            .map((t) => h("th", { text: t })))),
        this.body)));
    this.unlisten = registrations.listen(() => this.render());
    this.timer = setInterval(() => this.tick(), 1000);
    this.render();
  }

  row(reg) {
    const seen = h("td", { class: "seen", title: dateTime(reg.lastUpdate), text: ago(reg.lastUpdate) });
    seen.dataset.ms = reg.lastUpdate;
    return h("tr", { dataset: { endpoint: reg.endpoint } },
      h("td", { class: "ep" }, h("a", { href: `#/device/${encodeURIComponent(reg.endpoint)}`, text: reg.endpoint })),
      seen,
      h("td", { class: "registered", text: dateTime(reg.registrationDate) }),
      h("td", { class: "lifetime", text: `${reg.lifetime} s` }),
      h("td", { class: "binding mono", text: reg.bindingMode }),
      h("td", { class: "version", text: reg.lwM2mVersion }),
      h("td", { class: "queue" }, queueText(reg)),
      h("td", { class: "secure" }, reg.secure
        ? h("span", { class: "badge yes", text: "DTLS" })
        : h("span", { class: "badge", text: "no" })),
      h("td", { class: "address mono", text: reg.address }));
  }

  render() {
    const needle = this.filter.value.trim().toLowerCase();
    const all = [...this.registrations.byEndpoint.values()];
    const shown = all
      .filter((reg) => reg.endpoint.toLowerCase().includes(needle))
      .sort((a, b) => a.endpoint.localeCompare(b.endpoint));
    this.error.textContent = this.registrations.error
      ? `Could not load the registrations: ${this.registrations.error}` : "";
    const devices = (n) => `${n} device${n === 1 ? "" : "s"}`;
    this.count.textContent = needle ? `${shown.length} of ${devices(all.length)}` : devices(all.length);
    fill(this.body, shown.length ? shown.map((reg) => this.row(reg)) : h("tr", { class: "empty" },
      h("td", { colspan: 9, text: all.length ? "No endpoint matches the filter." : "No device is registered." })));
  }

  tick() {
    for (const cell of this.body.querySelectorAll("td.seen")) cell.textContent = ago(Number(cell.dataset.ms));
  }

  destroy() {
    this.unlisten();
    clearInterval(this.timer);
  }
}
