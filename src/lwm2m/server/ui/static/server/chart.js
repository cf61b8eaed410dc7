// A line chart of numeric values over time, drawn as inline SVG (no library).

import { clock, fill, h, s } from "../common/dom.js";

const COLOURS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7ea4", "#57606a"];
const WIDTH = 640;
const HEIGHT = 220;
const PAD = { left: 52, right: 12, top: 12, bottom: 24 };
/** Points kept per series. */
const MAX_POINTS = 300;

function niceNumber(n) {
  if (n === 0) return "0";
  const abs = Math.abs(n);
  if (abs >= 1e5 || abs < 1e-3) return n.toExponential(2);
  return Number(n.toPrecision(4)).toString();
}

export class LiveChart {
  constructor() {
    this.series = new Map(); // label -> {colour, points: [[t, v]]}
    this.svg = s("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: "none", role: "img", "aria-label": "live values" });
    this.legend = h("div", { class: "legend" });
    this.el = h("div", { class: "chart-wrap", id: "chart" }, this.svg, this.legend);
    this.render();
  }

  /** Add one value of series label at time t (ms). */
  add(label, t, value) {
    let series = this.series.get(label);
    if (!series) {
      series = { colour: COLOURS[this.series.size % COLOURS.length], points: [] };
      this.series.set(label, series);
    }
    series.points.push([t, value]);
    if (series.points.length > MAX_POINTS) series.points.splice(0, series.points.length - MAX_POINTS);
    this.render();
  }

  clear() {
    this.series.clear();
    this.render();
  }

  render() {
    const all = [...this.series.values()].flatMap((series) => series.points);
    const plotW = WIDTH - PAD.left - PAD.right;
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const children = [];
    if (!all.length) {
      children.push(s("text", { x: WIDTH / 2, y: HEIGHT / 2, "text-anchor": "middle" },
        "Observe a numeric resource to plot it here"));
      fill(this.svg, children);
      fill(this.legend);
      return;
    }
    let t0 = Math.min(...all.map((p) => p[0]));
    let t1 = Math.max(...all.map((p) => p[0]));
    if (t1 - t0 < 10000) t0 = t1 - 10000; // at least 10 s wide
    let v0 = Math.min(...all.map((p) => p[1]));
    let v1 = Math.max(...all.map((p) => p[1]));
    if (v1 - v0 < 1e-9) { v0 -= 1; v1 += 1; }
    const margin = (v1 - v0) * 0.08;
    v0 -= margin;
    v1 += margin;
    const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * plotW;
    const y = (v) => PAD.top + (1 - (v - v0) / (v1 - v0)) * plotH;
    for (let i = 0; i <= 4; i += 1) {
      const v = v0 + ((v1 - v0) * i) / 4;
      children.push(s("line", { class: "grid-line", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v) }));
      children.push(s("text", { x: PAD.left - 4, y: y(v) + 3, "text-anchor": "end" }, niceNumber(v)));
    }
    children.push(s("line", { class: "axis", x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: HEIGHT - PAD.bottom }));
    children.push(s("line", { class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: HEIGHT - PAD.bottom, y2: HEIGHT - PAD.bottom }));
    children.push(s("text", { x: PAD.left, y: HEIGHT - 6 }, clock(t0).slice(0, 8)));
    children.push(s("text", { x: WIDTH - PAD.right, y: HEIGHT - 6, "text-anchor": "end" }, clock(t1).slice(0, 8)));
    for (const [label, series] of this.series) {
      const points = series.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      const group = s("g", { class: "series", "data-series": label, "data-count": series.points.length },
        s("polyline", { points, stroke: series.colour }));
      for (const [t, v] of series.points.slice(-40)) {
        group.append(s("circle", { cx: x(t).toFixed(1), cy: y(v).toFixed(1), r: 2.2, fill: series.colour }));
      }
      children.push(group);
    }
    fill(this.svg, children);
    fill(this.legend, [...this.series].map(([label, series]) => {
      const swatch = h("span", { class: "swatch" });
      swatch.style.background = series.colour;
      const last = series.points[series.points.length - 1];
      return h("span", { class: "legend-item", dataset: { series: label } },
        swatch, `${label} = ${niceNumber(last[1])} (${series.points.length} points)`);
    }));
  }
}
