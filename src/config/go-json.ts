// The parts of Go's encoding/json behaviour that flannel's config and lease
// JSON depend on, restated for JSON.parse output.
//
// - Object keys match struct fields case-insensitively; when two keys fold to
//   the same field, the later one wins (Go decodes keys in order).
// - Unknown keys are ignored.
// - `null` leaves a plain field untouched (so it keeps its default).
// - A JSON value of the wrong type is an error worded as Go words it.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type GoKind = 'string' | 'int' | 'bool';

/** Go's name for the JSON type of a value, as used in UnmarshalTypeError. */
export function jsonTypeName(value: JsonValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return 'object';
  return typeof value; // string, number, boolean
}

export function isJsonObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Folds an object's keys onto the given field names (case-insensitive, last
 * one wins). Returns only the fields present, keyed by their canonical name.
 */
export function foldFields<F extends string>(obj: { [key: string]: JsonValue }, fields: readonly F[]): Partial<Record<F, JsonValue>> {
  const byLower = new Map<string, F>(fields.map((f) => [f.toLowerCase(), f]));
  const out: Partial<Record<F, JsonValue>> = {};
  for (const [key, value] of Object.entries(obj)) {
    const field = byLower.get(key.toLowerCase());
    if (field !== undefined) out[field] = value;
  }
  return out;
}

/** Go's message for a value of the wrong JSON type in a struct field. */
export function goTypeError(struct: string, field: string, value: JsonValue, kind: GoKind): string {
  const shown = typeof value === 'number' && kind === 'int' ? `number ${value}` : jsonTypeName(value);
  return `json: cannot unmarshal ${shown} into Go struct field ${struct}.${field} of type ${kind}`;
}

/**
 * Checks a decoded field against its Go kind. Returns the value, `undefined`
 * for null/absent (keep the default), or an error message.
 */
export function goField(
  struct: string,
  field: string,
  value: JsonValue | undefined,
  kind: GoKind,
): { ok: true; value: string | number | boolean | undefined } | { ok: false; message: string } {
  if (value === undefined || value === null) return { ok: true, value: undefined };
  switch (kind) {
    case 'string':
      if (typeof value === 'string') return { ok: true, value };
      break;
    case 'bool':
      if (typeof value === 'boolean') return { ok: true, value };
      break;
    case 'int':
      // Go's int is 64-bit, but no flannel field needs more than 2^53.
      if (typeof value === 'number' && Number.isSafeInteger(value)) return { ok: true, value };
      break;
  }
  return { ok: false, message: goTypeError(struct, field, value, kind) };
}

/**
 * JSON text as Go's encoder writes it: compact, with `<`, `>`, `&`, U+2028 and
 * U+2029 escaped (json.Marshal's default HTML escaping).
 */
export function goJsonStringify(value: JsonValue): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
