/**
 * A hostile peer, for tests only: a real account with a real identity key that
 * runs the real handshake (so the other side's checks all pass) and then says
 * whatever the test wants, through the same SecureChannel an honest peer uses.
 * It can send schema-valid lies (`channel.sendControl`), bytes that are not a
 * valid message at all (`raw`), data chunks of any index, size and LAST flag
 * (`chunk`), or stall at any point. Paired with the real, unmodified CLI on the
 * other side, it shows what a stranger can and cannot do to a sealdrop user.
 */
import { Home } from '../../peer/session/home.js';
import { connect, resolveAccount } from '../../peer/session/login.js';
import { handshake } from '../../peer/link/handshake.js';
import { PinnedKeys } from '../../peer/session/pinned-keys.js';
import { SignalInbox } from '../../peer/session/signal-inbox.js';
import type { RendezvousSession } from '../../peer/session/rendezvous-session.js';
import type { SecureChannel } from '../../peer/link/secure-channel.js';
import { establishLink, type Link, type TransportMode } from '../../peer/link/transfer-link.js';
import type { ControlInput } from '../../peer/link/control-messages.js';
import { PathMover } from '../../peer/link/path-mover.js';
import type { World } from './world.js';

export interface HostileLink {
  link: Link;
  channel: SecureChannel;
  sid: string;
  /** A control message as given (schema-valid or not: this is the liar's side). */
  send: (msg: ControlInput | Record<string, unknown>) => Promise<void>;
  /** Arbitrary bytes sealed as one control message. */
  raw: (text: string | Buffer) => Promise<void>;
  /** One data chunk at any index, marked LAST or not. */
  chunk: (index: number, last: boolean, data: Buffer) => Promise<void>;
  /** The next control message the victim sends (its reply, abort, credit…). */
  next: () => ReturnType<SecureChannel['nextControl']>;
  close: () => void;
}

/** `id`'s own authenticated rendezvous session, with its home (identity key and pins): for peers that speak raw signals. */
export async function sessionOf(world: World, id: string, receiving: boolean): Promise<{ home: Home; session: RendezvousSession }> {
  const home = new Home(world.homes[id]!);
  const account = await resolveAccount(home, {});
  return { home, session: await connect(home, account, { receiving }) };
}

function wrap(link: Link, sid: string, close: () => void): HostileLink {
  const channel = link.channel;
  return {
    link, channel, sid,
    send: (msg) => channel.sendControlBytes(Buffer.from(JSON.stringify(msg), 'utf8')),
    raw: (text) => channel.sendControlBytes(Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8')),
    chunk: (index, last, data) => channel.sendChunk(index, last, data),
    next: () => channel.nextControl(),
    close,
  };
}

/**
 * `id` opens a session to `to` (as `send`, `ls` and `get` do) and runs the real
 * handshake; what it says after that is the test's.
 */
export async function hostileOpen(world: World, id: string, to: string, o: { mode?: TransportMode } = {}): Promise<HostileLink> {
  const { home, session } = await sessionOf(world, id, false);
  const sid = await session.open(to);
  const link = await establishLink({
    session, sid, peerId: to, role: 'sender', identity: await home.identity(), pins: new PinnedKeys(home), strict: false, mode: o.mode ?? 'relay',
  });
  return wrap(link, sid, () => { link.mover?.close(); link.channel.close(); link.inbox.dispose(); session.close(sid, 'done'); session.disconnect(); });
}

/**
 * A stalled opener: `id` opens a session to `to` and then does nothing at all, or
 * (`hello`) runs the key exchange and then never chooses a transport.
 */
export async function stalledOpen(world: World, id: string, to: string, o: { hello?: boolean } = {}): Promise<{ sid: string; session: RendezvousSession; close: () => void }> {
  const { home, session } = await sessionOf(world, id, false);
  const sid = await session.open(to);
  if (o.hello) {
    const inbox = new SignalInbox(session, sid, to);
    await handshake({ session, inbox, role: 'sender', identity: await home.identity(), pins: new PinnedKeys(home), strict: false });
  }
  return { sid, session, close: () => session.disconnect() };
}

export interface HostileServer {
  /** Sessions handled so far. */
  readonly sessions: number;
  close: () => Promise<void>;
}

/**
 * `id` goes online like `receive` does and, for each session a peer opens to it
 * (send, ls, get), runs the real handshake as the receiving side and hands the
 * link to `handle`, which plays the sharer or receiver however it likes.
 */
export interface HostileServeOptions {
  /**
   * Offers path moves (as every accepter does) but never follows one: the opener's `move`
   * gets no `moved`. The opener must still end, with words, in bounded time.
   */
  deafToMoves?: boolean;
}

export async function hostileServe(world: World, id: string, handle: (h: HostileLink, from: string) => Promise<void>, o: HostileServeOptions = {}): Promise<HostileServer> {
  const { home, session } = await sessionOf(world, id, true);
  const identity = await home.identity();
  const pins = new PinnedKeys(home);
  let sessions = 0;
  const running = new Set<Promise<void>>();
  // Deaf from the mover's first moment: the opener's move can arrive while establishLink still runs.
  const hearing = PathMover.prototype.candidateFrame;
  if (o.deafToMoves) {
    PathMover.prototype.candidateFrame = function (this: PathMover, frame, t) {
      if ((this as unknown as { o: { session: RendezvousSession } }).o.session !== session) hearing.call(this, frame, t);
    };
  }
  session.on('request', (req) => {
    req.accept(true);
    sessions++;
    const job = (async () => {
      const link = await establishLink({ session, sid: req.sid, peerId: req.from, role: 'receiver', identity, pins, strict: false });
      const h = wrap(link, req.sid, () => { link.mover?.close(); link.channel.close(); link.inbox.dispose(); session.close(req.sid, 'done'); });
      try { await handle(h, req.from); } finally { h.close(); }
    })().catch(() => {});
    running.add(job);
    job.then(() => running.delete(job));
  });
  return {
    get sessions() { return sessions; },
    close: async () => { if (o.deafToMoves) PathMover.prototype.candidateFrame = hearing; session.disconnect(); await Promise.race([Promise.all(running), new Promise((r) => setTimeout(r, 2_000))]); },
  };
}
