/** Small statistics over repeated measurements: median with min and max, percentiles. */

export interface Summary { median: number; min: number; max: number; n: number }

export function summarize(values: number[]): Summary {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length };
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** MB/s with MB = 10^6 bytes. */
export function mbps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

export const MiB = 1024 * 1024;

/** "64m", "256m", "2g": the label a file size gets in result keys. */
export function sizeLabel(bytes: number): string {
  return bytes % (1024 * MiB) === 0 ? `${bytes / (1024 * MiB)}g` : `${Math.round(bytes / MiB)}m`;
}

/** Rounds for display and JSON: 3 significant digits below 100, whole numbers above. */
export function round(x: number): number {
  if (!Number.isFinite(x)) return x;
  if (Math.abs(x) >= 100) return Math.round(x);
  return Number(x.toPrecision(3));
}

export function fmt(s: Summary, unit = ''): string {
  if (s.n === 0) return 'n/a';
  if (s.n === 1) return `${round(s.median)}${unit}`;
  return `${round(s.median)}${unit} (${round(s.min)}–${round(s.max)})`;
}
