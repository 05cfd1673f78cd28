/**
 * Which path carries the transfer, in words: the path it started on, and every move the
 * CLI's PathMover makes (peer/link/path-mover.ts), as it happens. Moves come with their
 * reason ("the direct path opened", "the direct path stalled", …), from the mover itself.
 */
import type { PathMove } from '../peer/link/path-mover.js';
import type { TransportKind } from '../peer/link/transport.js';

const $ = (id: string) => document.getElementById(id)!;

const PATH_WORDS: Record<TransportKind, string> = {
  direct: 'the direct path (a WebRTC data channel between the two devices)',
  relay: 'the relay (through the rendezvous, still end to end encrypted)',
};

/** A new session: the path it starts on, and no moves yet. */
export function pathStarted(kind: TransportKind): void {
  $('transfer-path').textContent = kind;
  $('transfer-moves').replaceChildren(Object.assign(document.createElement('li'), { textContent: `started on ${PATH_WORDS[kind]}` }));
}

/** One move, as the mover reports it. */
export function pathMoved(m: PathMove): void {
  $('transfer-path').textContent = m.transport;
  $('transfer-moves').append(Object.assign(document.createElement('li'), { textContent: `now on ${PATH_WORDS[m.transport]}: ${m.why}` }));
}

/** The path it is on now, and the paths it used: "direct", or "relay, then direct". */
export function pathsUsed(start: TransportKind, now: TransportKind, moves: number): string {
  if (moves === 0) return now;
  return start === now ? `${start}, moved ${moves} times, back on ${now}` : `${start}, then ${now}`;
}

/** How many moves the list shows for this session. */
export function movesShown(): number {
  return Math.max(0, $('transfer-moves').children.length - 1);
}
