/** Shortest round-trip decimal for a sample value, valid in both text 0.0.4 and OpenMetrics 1.0. */
export function formatValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  // String(-0) is "0"; keep the sign so a negative zero survives the round trip.
  if (v === 0 && 1 / v < 0) return '-0';
  return String(v);
}
