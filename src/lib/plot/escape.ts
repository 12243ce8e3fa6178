/** Text for HTML element content or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c] ?? c);
}

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * JSON that is safe to paste inside an inline `<script>`: every `<`, `>` and `&` becomes a \u
 * escape, so no value (a title like "</script>" or "<!--") can end the script element or switch
 * the HTML parser into comment mode; U+2028/2029 are escaped for older JS parsers. Typed arrays
 * become plain arrays (JSON.stringify would write them as {"0":..,"1":..}); NaN and ±Infinity
 * become null, which Plotly draws as a gap.
 */
export function jsonForScript(value: unknown): string {
  const json = JSON.stringify(value, typedArraysAsArrays);
  if (json === undefined) return 'null';
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function typedArraysAsArrays(_key: string, value: unknown): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number | bigint>, Number);
  }
  return value;
}
