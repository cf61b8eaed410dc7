// The CoAP log of one device: the COAPLOG events of /api/event?ep=EP, newest first.

import { clock, fill, h, shorten } from "../common/dom.js";

const MAX_ROWS = 400;

export class CoapLog {
  constructor() {
    this.paused = false;
    this.body = h("tbody");
    this.count = 0;
    this.pause = h("input", { type: "checkbox", id: "coap-log-pause", onchange: () => { this.paused = this.pause.checked; } });
    this.el = h("section", { class: "card", id: "coap-log-card" },
      h("div", { class: "card-head" },
        h("h2", { text: "CoAP log" }),
        h("span", { class: "spacer" }),
        h("label", { class: "check" }, this.pause, "pause"),
        h("button", { class: "secondary small", text: "Clear", onclick: () => this.clear() })),
      h("div", { class: "log-wrap" },
        h("table", { id: "coap-log", class: "grid" },
          h("thead", {}, h("tr", {},
            ["Time", "", "Type", "Code", "mId", "Token", "Options", "Payload"].map((t) => h("th", { text: t })))),
          this.body)));
    this.clear();
  }

  clear() {
    this.count = 0;
    fill(this.body, h("tr", { class: "empty" }, h("td", { colspan: 8, text: "No message yet." })));
  }

  add(entry) {
    if (this.paused) return;
    if (this.count === 0) this.body.replaceChildren();
    this.count += 1;
    const payload = entry.payload || "";
    const row = h("tr", { class: entry.incoming ? "in" : "out", dataset: { mid: entry.mId } },
      h("td", { text: clock(entry.timestamp) }),
      h("td", { class: "dir", title: entry.incoming ? "from the device" : "to the device", text: entry.incoming ? "◀ in" : "▶ out" }),
      h("td", { class: "type", text: entry.type }),
      h("td", { class: "code", text: entry.code || "" }),
      h("td", { class: "mid", text: entry.mId }),
      h("td", { class: "token", text: entry.token }),
      h("td", { class: "options", text: entry.options || "" }),
      h("td", { class: "payload", title: payload.length > 56 ? payload.slice(0, 2000) : "", text: shorten(payload, 56) }));
    this.body.prepend(row);
    while (this.body.rows.length > MAX_ROWS) this.body.lastElementChild.remove();
  }
}
