// Hex text <-> bytes, with errors a person can act on.

/**
 * Parse hex text (white space and ":" between bytes allowed, either case).
 * Returns {bytes: Uint8Array, hex: "lower-case hex"} or {error: "why"}.
 */
export function parseHex(text, { maxBytes = Infinity, allowEmpty = false } = {}) {
  const compact = text.replace(/[\s:]+/g, "");
  if (!compact) {
    return allowEmpty ? { bytes: new Uint8Array(), hex: "" } : { error: "no hex digits given" };
  }
  const bad = compact.search(/[^0-9a-fA-F]/);
  if (bad >= 0) {
    return { error: `malformed hex: '${compact[bad]}' (character ${bad + 1}) is not a hex digit` };
  }
  if (compact.length % 2) {
    return { error: `malformed hex: ${compact.length} digits, an odd number (two per byte)` };
  }
  const size = compact.length / 2;
  if (size > maxBytes) return { error: `${size} bytes, more than ${maxBytes}` };
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 1) bytes[i] = parseInt(compact.slice(2 * i, 2 * i + 2), 16);
  return { bytes, hex: compact.toLowerCase() };
}

/** Random bytes as hex (for a new PSK). */
export function randomHex(size) {
  const bytes = crypto.getRandomValues(new Uint8Array(size));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
