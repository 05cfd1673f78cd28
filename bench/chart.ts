/** bench/throughput.svg: each path's throughput next to its ceiling, with min–max whiskers. */
import { round, type Summary } from './stats.js';

interface Bar { label: string; s: Summary; color: string }

const H = 360, LEFT = 70, BOTTOM = 60, TOP = 50, BAR = 70, GAP = 20, GROUP_GAP = 80;

export function throughputSvg(groups: Array<{ title: string; bars: Bar[] }>, subtitle: string): string {
  const bars = groups.reduce((n, g) => n + g.bars.length, 0);
  const W = LEFT + 40 + bars * (BAR + GAP) + (groups.length - 1) * (GROUP_GAP - GAP) + 40;
  const max = Math.max(...groups.flatMap((g) => g.bars.map((b) => b.s.max))) * 1.15;
  const y = (v: number) => Math.round((H - BOTTOM - (v / max) * (H - BOTTOM - TOP)) * 10) / 10;
  const parts: string[] = [];
  const ticks = 5;
  const step = niceStep(max / ticks);
  for (let v = 0; v <= max; v += step) {
    parts.push(`<line x1="${LEFT}" x2="${W - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${LEFT - 8}" y="${y(v) + 4}" text-anchor="end" font-size="11">${round(v)}</text>`);
  }
  let x = LEFT + 40;
  for (const g of groups) {
    const start = x;
    for (const b of g.bars) {
      const top = y(b.s.median);
      const mid = x + BAR / 2;
      parts.push(`<rect x="${x}" y="${top}" width="${BAR}" height="${Math.round((H - BOTTOM - top) * 10) / 10}" fill="${b.color}"/>`);
      parts.push(`<line x1="${mid}" x2="${mid}" y1="${y(b.s.min)}" y2="${y(b.s.max)}" stroke="#333"/>`);
      parts.push(`<line x1="${mid - 8}" x2="${mid + 8}" y1="${y(b.s.min)}" y2="${y(b.s.min)}" stroke="#333"/>`);
      parts.push(`<line x1="${mid - 8}" x2="${mid + 8}" y1="${y(b.s.max)}" y2="${y(b.s.max)}" stroke="#333"/>`);
      parts.push(`<text x="${mid}" y="${y(b.s.max) - 6}" text-anchor="middle" font-size="12">${round(b.s.median)}</text>`);
      parts.push(`<text x="${mid}" y="${H - BOTTOM + 16}" text-anchor="middle" font-size="11">${esc(b.label)}</text>`);
      x += BAR + GAP;
    }
    parts.push(`<text x="${(start + x - GAP) / 2}" y="${H - BOTTOM + 36}" text-anchor="middle" font-size="13" font-weight="bold">${esc(g.title)}</text>`);
    x += GROUP_GAP - GAP;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">sealdrop throughput vs. ceiling (MB/s, 10^6 B/s)</text>`,
    `<text x="${W / 2}" y="38" text-anchor="middle" font-size="11" fill="#555">${esc(subtitle)}</text>`,
    ...parts,
    `<line x1="${LEFT}" x2="${LEFT}" y1="${TOP - 10}" y2="${H - BOTTOM}" stroke="#333"/>`,
    `<line x1="${LEFT}" x2="${W - 20}" y1="${H - BOTTOM}" y2="${H - BOTTOM}" stroke="#333"/>`,
    '</svg>', '',
  ].join('\n');
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
