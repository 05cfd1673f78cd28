/**
 * Brings up the secure channel of one transfer session, in the CLI and in the page alike:
 * hello exchange and transport choice run together. The opener tries the direct path
 * and falls back to the relay after a short wait (or, when both sides move, starts on the
 * relay at once and moves to the direct path when it opens); it tells the accepter which
 * one carries the transfer, and the accepter follows, watching the path it was told is
 * unused. Only the key exchange and the frame cipher differ between Node and the page:
 * they come in as `crypto` (transfer-link.ts gives Node's; web/page-link.ts WebCrypto's).
 *
 *   registered → signaling → direct | relay → (engine) transferring → done | failed
 */
import { MAX_DIRECT_TIMEOUT_MS } from '../../shared/constants.js';
import type { Role } from '../../shared/crypto-suite.js';
import { messageForPeer, SealdropError, toSealdropError } from '../../shared/errors.js';
import { decodeHeader, FrameType, MOVE_STREAM, type FrameCipher } from '../../shared/frame-layout.js';
import { DirectTransport, type DirectOptions } from './direct-transport.js';
import { PathMover, type PathMove } from './path-mover.js';
import type { HandshakeResult } from './handshake.js';
import { RelayTransport } from './relay-transport.js';
import type { RendezvousSession } from '../session/rendezvous-session.js';
import { SecureChannel, type ChannelKeys } from './secure-channel.js';
import { SignalInbox } from '../session/signal-inbox.js';
import { verifyCodes, type ConfirmCode } from './verification.js';
import type { Transport, TransportKind } from './transport.js';

/** The two things Node and the page do differently here. */
export interface LinkCrypto {
  handshake(o: { session: RendezvousSession; inbox: SignalInbox; role: Role }): Promise<HandshakeResult>;
  cipher(keys: ChannelKeys, transferId: Buffer): FrameCipher;
}

export type TransportMode = 'auto' | 'relay' | 'direct-only';

export const DEFAULT_DIRECT_TIMEOUT_MS = 5_000;
/** The `moves` signal's version: what this peer understands of path moves. */
const MOVES_VERSION = 1;
/** The receiver's wait for the sender's transport choice: the longest direct attempt a sender may make, and a margin. */
const TRANSPORT_CHOICE_TIMEOUT_MS = MAX_DIRECT_TIMEOUT_MS + 10_000;
/** Errors that are only what a session closed underneath us looks like from here (a signal to a gone session is ERR_BAD_INPUT). */
const CONSEQUENCES = new Set(['ERR_TIMEOUT', 'ERR_PEER_GONE', 'ERR_CONNECT', 'ERR_NO_DIRECT', 'ERR_BAD_INPUT']);

export interface SecureLinkOptions {
  /** How this side exchanges keys and seals frames: Node's crypto (transfer-link.ts) or WebCrypto (the page). */
  crypto: LinkCrypto;
  session: RendezvousSession;
  sid: string;
  peerId: string;
  role: Role;
  /** Sender only: which transports to try. */
  mode?: TransportMode;
  directTimeoutMs?: number;
  /** A path move in the middle of the transfer (PROTOCOL.md "Path moves"). */
  onMove?: (m: PathMove) => void;
  /** Test seam: wraps the transport the engine will use (e.g. to tamper with frames); such a link stays on that one path. */
  wrapTransport?: (t: Transport) => Transport;
  /** Test seam: rewrites this side's WebRTC SDP (e.g. to advertise a smaller a=max-message-size). */
  sdpTransform?: (sdp: string) => string;
  /** A continuation after a lost rendezvous: the peer must prove the identity it proved in the first session. */
  peerFingerprint?: string;
  /** Called once keys and path are chosen, before any verification: the code to compare. */
  onSecured?: (s: Secured) => void;
  /** `--verify`: this side's person confirms the code (`confirmCode`) before anything moves. */
  verify?: boolean;
  confirmCode?: ConfirmCode;
  /** Without `verify`: this side's person is asked all the same when the peer verifies (verification.ts). */
  alsoWhenTheyVerify?: boolean;
}

export interface Secured { sas: string; peerFingerprint: string; transport: TransportKind; pinnedNow: boolean }

/** `transport`: the path the link started on (channel.transport is the one it is on now); `mover`: when it may move. */
export interface Link extends HandshakeResult { channel: SecureChannel; transport: TransportKind; inbox: SignalInbox; mover?: PathMover }

export async function secureLink(o: SecureLinkOptions): Promise<Link> {
  const inbox = new SignalInbox(o.session, o.sid, o.peerId);
  const mode = o.mode ?? 'auto';
  const timeoutMs = o.directTimeoutMs ?? DEFAULT_DIRECT_TIMEOUT_MS;
  if (!(timeoutMs > 0 && timeoutMs <= MAX_DIRECT_TIMEOUT_MS)) {
    throw new SealdropError('ERR_BAD_INPUT', `the direct-path timeout is at most ${MAX_DIRECT_TIMEOUT_MS / 1000} s (the receiver waits no longer for the choice)`);
  }
  let direct: DirectTransport | undefined;
  let carrier: TransportKind | undefined;
  let mover: PathMover | undefined;
  // Path moves: the accepter always offers them, the opener in auto mode (--relay and --direct-only name one
  // path), never through a test's wrapped transport. Said before the first key signal, so it arrives first.
  const offersMoves = !o.wrapTransport && (o.role === 'receiver' || mode === 'auto');
  if (offersMoves) o.session.signal(o.sid, { type: 'moves', v: MOVES_VERSION }).catch(() => {});
  // The receiver holds relay frames from the start: the sender's first one can arrive in the same tick as its transport choice.
  let relay = o.role === 'receiver' ? new RelayTransport(o.session, o.sid, inbox) : undefined;
  const directOptions = (): DirectOptions => ({
    initiator: o.role === 'sender',
    iceServers: o.session.welcome.iceServers,
    signalOut: (data) => { o.session.signal(o.sid, { type: 'webrtc', data }).catch(() => {}); },
    sdpTransform: o.sdpTransform,
  });
  try {
    if (mode !== 'relay') {
      direct = new DirectTransport(directOptions());
      inbox.onWebrtc((data) => (mover ? mover.webrtc(data) : direct!.signal(data)));
      // Until the direct path carries the transfer, the session ending (or the rendezvous going) ends
      // it too. Once it does, only the data channel itself can end it: its frames never touch the rendezvous.
      inbox.onClose(() => { if (!mover && carrier !== 'direct') direct?.close(); });
    }
    const keys = await o.crypto.handshake({ session: o.session, inbox, role: o.role });
    if (o.peerFingerprint !== undefined && keys.peerFingerprint !== o.peerFingerprint) {
      // The pins refuse a changed key already; this holds even if the pin was changed meanwhile (`sealdrop trust`).
      throw new SealdropError('ERR_KEY_CHANGED', `${o.peerId} came back with another identity key (${keys.peerFingerprint}) than the one this transfer began with (${o.peerFingerprint}); the transfer does not continue with it`,
        { peerMessage: 'the other side came back with another identity key than the transfer began with; stopped' });
    }
    const transferId = Buffer.from(o.sid, 'hex');
    const moves = offersMoves && inbox.peerMoves;
    // Relay start: with moves, the first bytes go on the relay at once and move to the direct path when it opens.
    const relayStart = o.role === 'sender' && moves && o.session.welcome.relayStart !== false;
    const chosen = o.role === 'sender'
      ? (relayStart ? 'relay' : await chooseTransport(o, direct, mode, timeoutMs))
      : await inbox.nextTransport(TRANSPORT_CHOICE_TIMEOUT_MS);
    if (o.role === 'sender') {
      // Listen on the chosen path before announcing it: the accepter's first sealed message may follow the signal at once.
      if (chosen === 'relay') relay ??= new RelayTransport(o.session, o.sid, inbox);
      await o.session.signal(o.sid, { type: 'transport', mode: chosen });
    }
    const unchosen = chosen === 'relay' ? direct : relay;
    // With moves the opener's direct attempt goes on in the background; without, the path not chosen is done with.
    if (o.role === 'sender' && !(moves && unchosen === direct)) unchosen?.close();
    // The accepter keeps the other path open until the opener's sealed `path` arrives: if that
    // message comes over the path it was told is unused, the signal was changed on the way.
    const witness = o.role === 'receiver' && unchosen ? watchUnchosen(unchosen, o.crypto.cipher(keys.keys, transferId), chosen) : undefined;
    if (o.role === 'receiver' && chosen === 'direct') {
      if (!direct) throw new SealdropError('ERR_PROTOCOL', 'the sender chose the direct path, which this side did not offer');
      await Promise.race([withTimeout(direct.connected, timeoutMs + 10_000), ...(witness ? [witness.tampered] : [])]);
    }
    carrier = chosen;
    let transport: Transport = chosen === 'direct' ? direct! : (relay ??= new RelayTransport(o.session, o.sid, inbox));
    if (o.wrapTransport) transport = o.wrapTransport(transport);
    const channel = new SecureChannel(transport, o.crypto.cipher(keys.keys, transferId), { resend: moves });
    // The mover runs from the first sealed message: a path may break, or the relay refuse, during the agreement.
    // On the accepter, the path it was told is unused stays watched; moves onto it are the mover's.
    if (moves) {
      mover = new PathMover({ channel, role: o.role, session: o.session, sid: o.sid, inbox, direct, directOptions, onMove: o.onMove, watched: witness ? unchosen : undefined });
      witness?.divert((f) => mover!.candidateFrame(f, unchosen!));
    }
    // The code is shown as soon as it exists: if what follows fails, it is what the people compare.
    o.onSecured?.({ sas: keys.sas, peerFingerprint: keys.peerFingerprint, transport: chosen, pinnedNow: keys.pin === 'pinned-now' });
    try {
      // With moves the accepter's other path stays open (the opener may move there), watched by the mover from here on.
      const theirs = await Promise.race([channel.agree(o.verify ?? false, undefined, chosen), ...(witness ? [witness.tampered] : [])]).finally(() => witness?.close(moves));
      await verifyCodes(channel, { sas: keys.sas, peer: o.peerId, mine: o.verify ?? false, theirs: theirs.verify, confirm: o.confirmCode, alsoWhenTheyVerify: o.alsoWhenTheyVerify });
    } catch (err) {
      // The other side is told why (it may be waiting for our answer), then the channel goes.
      const e = toSealdropError(err);
      await channel.sendControl({ t: 'abort', code: e.code, message: messageForPeer(e) }).catch(() => {});
      await channel.ended(1_000);
      channel.close();
      throw e;
    }
    return { ...keys, channel, transport: chosen, inbox, mover };
  } catch (err) {
    mover?.close();
    direct?.close();
    relay?.close();
    inbox.dispose();
    // A session the peer closed is why a wait was cut short or a signal found no session; an error this
    // side found itself (a bad key, a changed path, a "no") stays the one reported.
    const e = toSealdropError(err);
    throw inbox.closed && CONSEQUENCES.has(e.code) ? inbox.closed : e;
  }
}

/**
 * Watches the path the accepter was told is unused. `tampered` rejects if the opener's
 * sealed `path` message arrives there (the opener is told, over that same path); it never
 * resolves otherwise. `close` ends the watch and the path.
 */
function watchUnchosen(unchosen: Transport, cipher: FrameCipher, told: TransportKind): { tampered: Promise<never>; close: (keep: boolean) => void; divert: (to: (f: Buffer) => void) => void } {
  // A move onto this path is the mover's (with moves), never read as the witness's; the rest is the witness's, until it closes.
  // A move can come before the mover exists (the opener's direct path may open first): a few are held for it.
  let diverted: ((f: Buffer) => void) | undefined;
  const early: Buffer[] = [];
  const watched: Transport = {
    kind: unchosen.kind,
    copiesOnSend: unchosen.copiesOnSend,
    send: (f) => unchosen.send(f),
    onFrame: (h) => unchosen.onFrame((f) => {
      if (!isMoveFrame(f)) h(f);
      else if (diverted) diverted(f);
      else if (early.length < 4) early.push(f);
    }),
    onClose: (h) => unchosen.onClose(h),
    close: () => { if (!kept) unchosen.close(); },
  };
  let kept = false;
  const witness = new SecureChannel(watched, cipher);
  const tampered = witness.agreed(TRANSPORT_CHOICE_TIMEOUT_MS).then(async (): Promise<never> => {
    const err = new SealdropError('ERR_PROTOCOL',
      `the rendezvous said the other peer sends over the ${told} path, but its sealed messages arrive over the ${unchosen.kind} path: someone changed the agreed transport; stopped`,
      { peerMessage: 'the transport choice was changed on its way to the other peer (by the rendezvous?); stopped' });
    // Told where the opener listens, and given a moment to arrive before anything here closes.
    await witness.sendControl({ t: 'abort', code: err.code, message: messageForPeer(err) }).catch(() => {});
    await witness.ended(1_000);
    throw err;
  }, () => new Promise<never>(() => {}));
  tampered.catch(() => {});
  return { tampered, close: (keep) => { kept = keep; witness.close(); }, divert: (to) => { diverted = to; for (const f of early.splice(0)) to(f); } };
}

function isMoveFrame(f: Buffer): boolean {
  try {
    const h = decodeHeader(f);
    return h.type === FrameType.Control && h.stream === MOVE_STREAM;
  } catch {
    return false;
  }
}

/** The opener's choice: direct if the data channel opened within the timeout, else the relay (unless forbidden). */
async function chooseTransport(o: SecureLinkOptions, direct: DirectTransport | undefined, mode: TransportMode, timeoutMs: number): Promise<TransportKind> {
  let chosen: TransportKind = 'relay';
  if (direct) {
    const ok = await withTimeout(direct.connected, timeoutMs).then(() => true, () => false);
    if (ok) chosen = 'direct';
    else if (mode === 'direct-only') {
      throw new SealdropError('ERR_NO_DIRECT', `no direct path to ${o.peerId} was found within ${timeoutMs / 1000} s, and --direct-only forbids the relay`);
    }
  }
  return chosen;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new SealdropError('ERR_TIMEOUT', 'timed out')), ms);
    p.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
}
