/**
 * What the progress line says: a smoothed rate (bytes moved in this run only,
 * so a resumed prefix does not fake a burst), an ETA from that rate, and a
 * layout that fits the terminal's width with the file name kept readable.
 * Pure: the Reporter feeds samples and draws the line with cli-progress.
 */

/** How much each new rate sample weighs: about the last 3 s at 4 samples a second. */
const SMOOTHING = 0.08;
const SAMPLE_MS = 250;
/** Below this the ETA is not shown: too little was seen to predict from. */
const WARMUP_MS = 1_000;

export class RateMeter {
  private rate = 0;
  private lastAt = 0;
  private lastBytes = 0;
  private readonly startedAt: number;

  constructor(private readonly startBytes: number, now: number) {
    this.startedAt = now;
    this.lastAt = now;
    this.lastBytes = startBytes;
  }

  /** Feeds the byte count at `now`; returns bytes per second, smoothed (0 until known). */
  sample(bytes: number, now: number): number {
    const dt = now - this.lastAt;
    if (dt < SAMPLE_MS) return this.rate;
    const instant = ((bytes - this.lastBytes) * 1000) / dt;
    // The first samples set the rate (average since the start), later ones move it gently.
    const elapsed = now - this.startedAt;
    this.rate = elapsed <= 2 * SAMPLE_MS || this.rate === 0 ? ((bytes - this.startBytes) * 1000) / Math.max(1, elapsed) : this.rate + SMOOTHING * (instant - this.rate);
    this.lastAt = now;
    this.lastBytes = bytes;
    return this.rate;
  }

  /** Bytes per second over the whole run: what the finished line shows. */
  average(bytes: number, now: number): number {
    return ((bytes - this.startBytes) * 1000) / Math.max(1, now - this.startedAt);
  }

  /** Seconds left at the smoothed rate, or undefined while it cannot be told. */
  eta(bytes: number, total: number, now: number): number | undefined {
    if (bytes >= total) return 0;
    if (now - this.startedAt < WARMUP_MS || this.rate <= 0) return undefined;
    return (total - bytes) / this.rate;
  }
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** "12.3/40.0 MiB" when both share a unit, else "512 KiB/40.0 MiB". */
export function amount(done: number, total: number): string {
  const [d, du] = bytes(done).split(' ');
  const [t, tu] = bytes(total).split(' ');
  return du === tu ? `${d}/${t} ${tu}` : `${d} ${du}/${t} ${tu}`;
}

/** 7s, 1m05s, 2h03m. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Cuts a name to `width` characters in the middle, keeping its start and its extension: "quarterly-rep…2024.pdf". */
export function fitName(name: string, width: number): string {
  const chars = [...name];
  if (chars.length <= width) return name;
  if (width <= 1) return '…'.slice(0, width);
  const tail = Math.min(Math.max(4, Math.floor((width - 1) * 0.4)), width - 1);
  const head = width - 1 - tail;
  return `${chars.slice(0, head).join('')}…${chars.slice(chars.length - tail).join('')}`;
}

export interface LineParts { percent: string; amount: string; rate: string; eta: string; name: string; barWidth: number }

/**
 * Lays one progress line out in `columns`: "[bar] 45% | 12.3/40.0 MiB | 4.2 MiB/s | ETA 7s | name".
 * The bar gives way first (down to nothing), then the name is cut in the middle.
 */
export function layout(p: { bytes: number; total: number; name: string; rate: number; eta: number | undefined }, columns: number): LineParts {
  const done = p.total === 0 || p.bytes >= p.total;
  const percent = `${p.total === 0 ? 100 : Math.floor((Math.min(p.bytes, p.total) / p.total) * 100)}%`.padStart(4);
  const rate = p.rate > 0 ? `${bytes(p.rate)}/s` : '–';
  const eta = done ? 'done' : p.eta === undefined ? 'ETA –' : `ETA ${duration(p.eta)}`;
  const fixed = `${percent} | ${amount(p.bytes, p.total)} | ${rate} | ${eta} | `;
  const room = Math.max(10, columns - 1) - fixed.length;
  const nameLength = [...p.name].length;
  // The name first gets up to 24 characters, the bar 10 to 28, the name the rest.
  let barWidth = Math.max(0, Math.min(28, room - Math.min(nameLength, 24) - 1));
  if (barWidth < 10) barWidth = room - 12 >= 10 ? 10 : 0;
  const nameWidth = Math.max(1, room - (barWidth ? barWidth + 1 : 0));
  return { percent, amount: amount(p.bytes, p.total), rate, eta, name: fitName(p.name, nameWidth), barWidth };
}
