// Typed editors for resource values, resources, instances and Write-Attributes.
// Each editor has an element and read(), which returns {value} (the JSON the API
// takes) or {error} (a sentence saying what is wrong): nothing is sent on an error.

import { bytesText, h, toHex } from "../common/dom.js";
import { parseHex } from "../common/hex.js";
import { ATTRIBUTES, NODE_TYPES, rangeOf } from "./model.js";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const FLOAT_RE = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

function outOfRange(number, rdef) {
  const range = rangeOf(rdef);
  if (range && (number < range.low || number > range.high)) {
    return `${number} is outside the range ${range.text} of ${rdef.name}`;
  }
  return "";
}

function integerValue(text, rdef, unsigned) {
  const trimmed = text.trim();
  const kind = unsigned ? "an unsigned integer" : "an integer";
  if (!trimmed) return { error: `no value: ${rdef.name} takes ${kind}` };
  if (!(unsigned ? /^\+?\d+$/ : /^[-+]?\d+$/).test(trimmed)) {
    return { error: `'${trimmed}' is not ${kind}` };
  }
  const big = BigInt(trimmed);
  const [low, high] = unsigned ? [0n, UINT64_MAX] : [INT64_MIN, INT64_MAX];
  if (big < low || big > high) return { error: `${trimmed} does not fit in ${unsigned ? "64 unsigned" : "64"} bits` };
  const problem = outOfRange(Number(big), rdef);
  if (problem) return { error: problem };
  // beyond 2^53 a JSON number loses digits: the API takes numeric strings too
  return { value: Number.isSafeInteger(Number(big)) ? Number(big) : big.toString() };
}

function floatValue(text, rdef) {
  const trimmed = text.trim();
  if (!trimmed) return { error: `no value: ${rdef.name} takes a number` };
  if (!FLOAT_RE.test(trimmed)) return { error: `'${trimmed}' is not a number` };
  const number = Number(trimmed);
  if (!Number.isFinite(number)) return { error: `'${trimmed}' is not a finite number` };
  const problem = outOfRange(number, rdef);
  return problem ? { error: problem } : { value: number };
}

function timeValue(text) {
  const trimmed = text.trim();
  if (/^[-+]?\d+$/.test(trimmed)) return { value: Number(trimmed) * 1000 }; // seconds
  const ms = Date.parse(trimmed);
  if (!trimmed || Number.isNaN(ms)) {
    return { error: `'${trimmed}' is not a time: give ISO 8601 (2026-05-01T12:00:00Z) or seconds since 1970` };
  }
  return { value: ms };
}

function objlnkValue(text) {
  const match = /^\s*(\d{1,5})\s*:\s*(\d{1,5})\s*$/.exec(text);
  if (!match || Number(match[1]) > 65535 || Number(match[2]) > 65535) {
    return { error: `'${text.trim()}' is not an object link: give objectId:instanceId, e.g. 3:0` };
  }
  return { value: { objectId: Number(match[1]), objectInstanceId: Number(match[2]) } };
}

/** An opaque value: hex text, or the bytes of a file. */
function opaqueEditor(rdef) {
  let fileBytes = null;
  const area = h("textarea", { class: "hex", rows: 2, placeholder: "hex bytes, e.g. 00 01 02 ff" });
  const info = h("span", { class: "hint", text: "hex, or load a file" });
  const file = h("input", {
    type: "file", class: "file",
    onchange: async () => {
      const chosen = file.files[0];
      if (!chosen) return;
      fileBytes = new Uint8Array(await chosen.arrayBuffer());
      area.value = "";
      area.disabled = true;
      area.placeholder = `${chosen.name}: ${bytesText(fileBytes.length)}`;
      info.textContent = `file ${chosen.name} loaded`;
    },
  });
  const clear = h("button", {
    type: "button", class: "secondary small", text: "Clear file",
    onclick: () => {
      fileBytes = null;
      file.value = "";
      area.disabled = false;
      area.placeholder = "hex bytes, e.g. 00 01 02 ff";
      info.textContent = "hex, or load a file";
    },
  });
  return {
    el: h("div", { class: "editor-hex" }, area, h("div", { class: "row" }, file, clear, info)),
    read() {
      if (fileBytes) return { value: toHex(fileBytes) };
      const parsed = parseHex(area.value, { allowEmpty: true });
      return parsed.error ? { error: `${rdef.name}: ${parsed.error}` } : { value: parsed.hex };
    },
    set(value) { area.value = value || ""; },
  };
}

/** An editor of one value of resource model rdef: {el, read(), set(value)}. */
export function valueEditor(rdef) {
  const type = rdef.type;
  if (type === "opaque") return opaqueEditor(rdef);
  if (type === "boolean") {
    const select = h("select", { class: "value-input" },
      h("option", { value: "true", text: "true" }), h("option", { value: "false", text: "false" }));
    return { el: select, read: () => ({ value: select.value === "true" }), set: (v) => { select.value = String(Boolean(v)); } };
  }
  const placeholders = {
    integer: "integer", unsigned_integer: "unsigned integer", float: "number",
    time: "2026-05-01T12:00:00Z or seconds", objlnk: "objectId:instanceId", string: "text", corelink: "</3/0>,...",
  };
  const range = rangeOf(rdef);
  const input = h("input", {
    class: "value-input", placeholder: placeholders[type] || "value", autocomplete: "off",
    title: range ? `range ${range.text}` : "",
  });
  const readers = {
    integer: () => integerValue(input.value, rdef, false),
    unsigned_integer: () => integerValue(input.value, rdef, true),
    float: () => floatValue(input.value, rdef),
    time: () => timeValue(input.value),
    objlnk: () => objlnkValue(input.value),
  };
  const el = type === "time"
    ? h("span", { class: "row" }, input, h("button", {
      type: "button", class: "secondary small", text: "now",
      onclick: () => { input.value = new Date().toISOString().replace(/\.\d+Z$/, "Z"); },
    }))
    : input;
  return {
    el,
    input,
    read() {
      const reader = readers[type];
      const result = reader ? reader() : { value: input.value };
      return result.error ? { error: `${rdef.name}: ${result.error}` } : result;
    },
    set(value) {
      if (value === undefined || value === null) return;
      if (type === "objlnk") input.value = `${value.objectId}:${value.objectInstanceId}`;
      else if (type === "time") input.value = new Date(value).toISOString().replace(/\.000Z$/, "Z");
      else input.value = String(value);
    },
  };
}

/** Editor of the instances of a multiple resource: rows of (instance id, value). */
function multiEditor(rdef) {
  const rows = h("div", { class: "multi" });
  const editors = [];
  const addRow = (ri, value) => {
    const id = h("input", { class: "ri", placeholder: "id", value: ri ?? String(editors.length) });
    const editor = valueEditor(rdef);
    if (value !== undefined) editor.set(value);
    const entry = { id, editor };
    const row = h("div", { class: "multi-row" }, h("span", { class: "hint", text: "instance" }), id, editor.el,
      h("button", {
        type: "button", class: "secondary small", text: "−",
        onclick: () => { editors.splice(editors.indexOf(entry), 1); row.remove(); },
      }));
    editors.push(entry);
    rows.append(row);
  };
  addRow("0");
  return {
    el: h("div", {}, rows, h("button", { type: "button", class: "secondary small", text: "+ instance", onclick: () => addRow() })),
    read() {
      const values = {};
      for (const { id, editor } of editors) {
        const text = id.value.trim();
        if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
          return { error: `${rdef.name}: '${text}' is not a resource instance id (0..65535)` };
        }
        if (text in values) return { error: `${rdef.name}: instance ${text} given twice` };
        const result = editor.read();
        if (result.error) return result;
        values[text] = result.value;
      }
      return { value: values };
    },
    set(values) {
      rows.replaceChildren();
      editors.length = 0;
      for (const [ri, value] of Object.entries(values || {})) addRow(ri, value);
      if (!editors.length) addRow("0");
    },
  };
}

/** The JSON node of resource rdef with the editor's value. */
export function resourceNode(rdef, value) {
  const type = NODE_TYPES[rdef.type] || "STRING";
  return rdef.instancetype === "multiple"
    ? { id: rdef.id, kind: "multiResource", type, values: value }
    : { id: rdef.id, kind: "singleResource", type, value };
}

/** An editor of a whole resource (single or multiple): {el, read() -> {value: node}}. */
export function resourceEditor(rdef) {
  const editor = rdef.instancetype === "multiple" ? multiEditor(rdef) : valueEditor(rdef);
  return {
    el: editor.el,
    editor,
    read() {
      const result = editor.read();
      return result.error ? result : { value: resourceNode(rdef, result.value) };
    },
    set: (value) => editor.set(value),
  };
}

/**
 * An editor of an instance: one row per writable resource, each with a check box
 * saying whether it is sent. read() -> {value: [resource nodes]}.
 */
export function instanceEditor(resourceDefs, { preselectMandatory = false } = {}) {
  const rows = [];
  const el = h("div", { class: "instance-editor" });
  for (const rdef of resourceDefs) {
    if (!(rdef.operations || "").includes("W")) continue;
    const editor = resourceEditor(rdef);
    const include = h("input", { type: "checkbox", class: "include", checked: preselectMandatory && rdef.mandatory });
    const focusInclude = () => { include.checked = true; };
    editor.el.addEventListener("input", focusInclude);
    editor.el.addEventListener("change", focusInclude);
    rows.push({ rdef, editor, include });
    el.append(h("div", { class: "row", dataset: { rid: rdef.id } },
      include,
      h("span", { class: "rname", text: `${rdef.id} ${rdef.name}${rdef.mandatory ? " *" : ""}` }),
      editor.el,
      h("span", { class: "hint", text: rdef.type + (rdef.instancetype === "multiple" ? " (multiple)" : "") })));
  }
  if (!rows.length) el.append(h("p", { class: "hint", text: "This object has no writable resource." }));
  return {
    el,
    read() {
      const resources = [];
      for (const { editor, include } of rows) {
        if (!include.checked) continue;
        const result = editor.read();
        if (result.error) return result;
        resources.push(result.value);
      }
      return { value: resources };
    },
  };
}

/**
 * Write-Attributes: a field per attribute. Blank: not sent; "-": removed (sent
 * empty). read() -> {value: {name: text}} (the query) or {error}.
 */
export function attributesEditor() {
  const inputs = new Map();
  const el = h("div", { class: "row" });
  for (const attr of ATTRIBUTES) {
    const input = h("input", { class: `attr attr-${attr.name}`, size: 6, autocomplete: "off" });
    inputs.set(attr, input);
    el.append(h("label", {}, attr.label, input));
  }
  return {
    el: h("div", {}, el, h("p", { class: "hint", text: "Blank: left as it is. '-': removed." })),
    read() {
      const query = {};
      for (const [attr, input] of inputs) {
        const text = input.value.trim();
        if (!text) continue;
        if (text === "-") {
          query[attr.name] = "";
          continue;
        }
        if (attr.kind === "uint" ? !/^\d+$/.test(text) : !FLOAT_RE.test(text)) {
          const kind = attr.kind === "uint" ? "a non-negative integer (seconds)" : "a number";
          return { error: `${attr.name}: '${text}' is not ${kind}` };
        }
        query[attr.name] = text;
      }
      if (!Object.keys(query).length) return { error: "give at least one attribute" };
      return { value: query };
    },
  };
}
