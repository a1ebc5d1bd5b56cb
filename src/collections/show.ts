/**
 * Shows a received value in a message. Never throws: JSON.stringify throws for a BigInt, a cycle
 * or a throwing getter, and turns a Symbol, a function or NaN into nothing useful.
 */
export function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json.length > 200 ? `${json.slice(0, 200)}...` : json;
  } catch {
    // a cycle, a BigInt inside, a getter or Proxy trap that throws
  }
  return typeof value === 'object' ? 'an object' : String(value);
}
