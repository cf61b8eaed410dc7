// LwM2M paths, types and the JSON nodes of the REST API, as the page needs them.

/** The ?format= names the API takes: every content format. */
export const FORMATS = ["TLV", "JSON", "SENML_JSON", "SENML_CBOR", "LWM2M_CBOR", "TEXT", "OPAQUE", "CBOR"];
/** The formats that carry composite content. */
export const COMPOSITE_FORMATS = ["SENML_JSON", "SENML_CBOR", "LWM2M_CBOR"];

/** Write-Attributes: name and kind (uint: non-negative integer; number: any number). */
export const ATTRIBUTES = [
  { name: "pmin", kind: "uint", label: "pmin (s)" },
  { name: "pmax", kind: "uint", label: "pmax (s)" },
  { name: "gt", kind: "number", label: "gt" },
  { name: "lt", kind: "number", label: "lt" },
  { name: "st", kind: "number", label: "st" },
  { name: "epmin", kind: "uint", label: "epmin (s)" },
  { name: "epmax", kind: "uint", label: "epmax (s)" },
];

/** The object model's type names (lower case) -> the JSON nodes' type names. */
export const NODE_TYPES = {
  string: "STRING",
  integer: "INTEGER",
  unsigned_integer: "UNSIGNED_INTEGER",
  float: "FLOAT",
  boolean: "BOOLEAN",
  opaque: "OPAQUE",
  time: "TIME",
  objlnk: "OBJLNK",
  corelink: "CORELINK",
  none: "NONE",
};

export const NUMERIC_TYPES = new Set(["INTEGER", "UNSIGNED_INTEGER", "FLOAT"]);

const MAX_ID = 65535;

/** "/3/0/1" from [3, 0, 1]; "/" for the root. */
export function pathText(ids) {
  return `/${ids.join("/")}`;
}

/**
 * Parse a path typed by a person: "/3/0/1" or "3/0/1". Returns {ids} or {error}.
 * allowRoot accepts "/" (every object), which composite operations take.
 */
export function parsePath(text, { allowRoot = false } = {}) {
  const trimmed = text.trim();
  if (!trimmed) return { error: "no path given" };
  if (trimmed === "/") return allowRoot ? { ids: [] } : { error: "give an object, instance or resource path, e.g. /3/0/1" };
  const parts = trimmed.replace(/^\//, "").replace(/\/$/, "").split("/");
  if (parts.length > 4) return { error: `'${trimmed}' has ${parts.length} levels; a path has at most 4 (/o/i/r/ri)` };
  const ids = [];
  for (const part of parts) {
    if (!/^\d{1,5}$/.test(part) || Number(part) > MAX_ID) {
      return { error: `'${trimmed}' is not an LwM2M path: '${part}' is not an id (0..65535)` };
    }
    ids.push(Number(part));
  }
  return { ids };
}

/** The text of a value of a node of type (JSON type name) for display. */
export function valueText(type, value) {
  if (value === null || value === undefined) return "";
  switch (type) {
    case "TIME": {
      const date = new Date(value);
      return Number.isNaN(date.getTime()) ? String(value) : `${date.toISOString().replace(".000Z", "Z")}`;
    }
    case "OPAQUE": {
      const size = value.length / 2;
      return size > 32 ? `${value.slice(0, 64)}… (${size} bytes)` : `${value || "(empty)"}`;
    }
    case "OBJLNK":
      return `${value.objectId}:${value.objectInstanceId}`;
    default:
      return String(value);
  }
}

/**
 * The resource values in a JSON node read at ids: a list of
 * [resource path text, {type, value}] or [path, {type, values: {ri: value}}];
 * a resource instance node gives [resource path, {type, ri, value}].
 */
export function nodeValues(ids, node) {
  const out = [];
  const resource = (base, res) => {
    const path = pathText([...base, res.id]);
    if (res.kind === "multiResource") out.push([path, { type: res.type, values: { ...res.values } }]);
    else out.push([path, { type: res.type, value: res.value }]);
  };
  if (!node) return out;
  switch (node.kind) {
    case "obj":
      for (const inst of node.instances) for (const res of inst.resources) resource([ids[0], inst.id], res);
      break;
    case "instance":
      for (const res of node.resources) resource([ids[0], ids[1] ?? node.id], res);
      break;
    case "singleResource":
    case "multiResource":
      resource(ids.slice(0, 2), node);
      break;
    case "resourceInstance":
      out.push([pathText(ids.slice(0, 3)), { type: node.type, ri: node.id, value: node.value }]);
      break;
    default:
      break;
  }
  return out;
}

/** The instance ids a node read at ids shows (for objects and instances). */
export function nodeInstances(ids, node) {
  if (!node) return [];
  if (node.kind === "obj") return node.instances.map((inst) => [ids[0], inst.id]);
  if (node.kind === "instance") return [[ids[0], ids[1] ?? node.id]];
  return [];
}

/** A numeric value of a node for the chart, or null. */
export function numericValue(type, value) {
  if (!NUMERIC_TYPES.has(type)) return null;
  const number = typeof value === "number" ? value : Number(value);
  return Number.isFinite(number) ? number : null;
}

/** Object id -> sorted instance ids, from a registration's object links. */
export function objectsOf(reg) {
  const objects = new Map();
  const root = reg.rootPath && reg.rootPath !== "/" ? reg.rootPath.replace(/\/$/, "") : "";
  for (const link of reg.objectLinks || []) {
    let url = link.url;
    if (root && url.startsWith(root)) url = url.slice(root.length);
    const parts = url.split("/").filter(Boolean);
    if (!parts.length || !parts.every((p) => /^\d+$/.test(p))) continue;
    const oid = Number(parts[0]);
    if (!objects.has(oid)) objects.set(oid, new Set());
    if (parts.length >= 2) objects.get(oid).add(Number(parts[1]));
  }
  return new Map([...objects.entries()].sort((a, b) => a[0] - b[0])
    .map(([oid, set]) => [oid, [...set].sort((a, b) => a - b)]));
}

/** The operations a resource model allows: {read, write, execute}. */
export function operationsOf(rdef) {
  const ops = (rdef && rdef.operations) || "";
  return { read: ops.includes("R"), write: ops.includes("W"), execute: ops.includes("E") };
}

/** A numeric range of a model ("0..100", "1-65534"), or null. */
export function rangeOf(rdef) {
  const text = ((rdef && rdef.range) || "").trim();
  const match = /^([-+]?\d+(?:\.\d+)?)\s*(?:\.\.|-|–)\s*([-+]?\d+(?:\.\d+)?)$/.exec(text);
  if (!match) return null;
  const low = Number(match[1]);
  const high = Number(match[2]);
  return low <= high ? { low, high, text } : null;
}
