/**
 * Opening a transfer session to a peer, for every command that starts one
 * (send, ls, get): connect, ask the peer to join, bring up the secure link,
 * run `use`, and always tear down. An error in `use` is told to the peer.
 */
import { SealdropError, toSealdropError } from '../../shared/errors.js';
import type { Home } from '../session/home.js';
import { connect, type Account } from '../session/login.js';
import { PinnedKeys } from '../session/pinned-keys.js';
import type { RendezvousSession } from '../session/rendezvous-session.js';
import { establishLink, useLink, type Link, type Secured, type TransportMode } from './transfer-link.js';
import type { PathMove } from './path-mover.js';
import type { ConfirmCode } from './verification.js';
import type { Transport, TransportKind } from './transport.js';

export type SecuredInfo = Secured;

export interface PeerLinkOptions {
  home: Home;
  account: Account;
  peer: string;
  mode?: TransportMode;
  directTimeoutMs?: number;
  strict?: boolean;
  onStatus?: (text: string) => void;
  /** Called once keys are agreed: the short authentication string to compare. */
  onSecured?: (info: SecuredInfo) => void;
  /** `--verify`: nothing moves until this side's person confirms the code (`confirmCode`). */
  verify?: boolean;
  confirmCode?: ConfirmCode;
  /** The transfer moved to another path in the middle (a status line and a `path` event). */
  onMove?: (m: PathMove) => void;
  /** Test seam: wraps the transport the engine will use. */
  wrapTransport?: (t: Transport) => Transport;
  /** Logged in to the rendezvous (each attempt of a continuation, too). */
  onConnected?: () => void;
  /** A continuation: the peer must prove this identity again (its fingerprint from the first session). */
  peerFingerprint?: string;
}

/**
 * Failures that followed the loss of our rendezvous connection (a restart, a network loss):
 * what failed after it is its consequence, and the transfer may continue in a new session
 * (peer/transfer/continuation.ts). Only codes a lost connection produces count; a refusal,
 * a changed key or bad data found meanwhile stays what it is.
 */
const LOST = new WeakSet<SealdropError>();
const CONSEQUENCES_OF_LOSS = new Set(['ERR_CONNECT', 'ERR_PEER_GONE', 'ERR_TIMEOUT']);

export function isLostRendezvous(err: unknown): boolean {
  return err instanceof SealdropError && LOST.has(err);
}

/** `err` as the consequence of a lost rendezvous connection, when it is one. */
export function markLost(err: unknown, lost: boolean): unknown {
  const e = toSealdropError(err);
  if (lost && CONSEQUENCES_OF_LOSS.has(e.code)) LOST.add(e);
  return e;
}

/** Watches whether `session` drops (not closed by us) from now on; `stop` ends the watch (a receiver serves many sessions on one). */
export function watchLoss(session: RendezvousSession): { lost: () => boolean; stop: () => void } {
  let lost = false;
  const onDisconnect = (reason: string) => { if (reason !== 'io client disconnect') lost = true; };
  session.on('disconnect', onDisconnect);
  return { lost: () => lost || session.restarting, stop: () => { session.off('disconnect', onDisconnect); } };
}

export async function withPeerLink<T>(o: PeerLinkOptions, use: (link: Link) => Promise<T>): Promise<T> {
  if (o.peer === o.account.id) throw new SealdropError('ERR_BAD_INPUT', 'that is your own ID');
  const identity = await o.home.identity();
  const session = await connect(o.home, o.account, { onWait: (s) => o.onStatus?.(`waiting ${s} s for a fresh TOTP code`) });
  const loss = watchLoss(session);
  o.onConnected?.();
  let sid: string | undefined;
  let outcome = 'done';
  try {
    o.onStatus?.(`asking ${o.peer} to join`);
    sid = await session.open(o.peer).catch((err) => { throw openRefusal(o.peer, err); });
    const link = await establishLink({
      session, sid, peerId: o.peer, role: 'sender', identity, pins: new PinnedKeys(o.home),
      strict: o.strict ?? o.account.strict, mode: o.mode, directTimeoutMs: o.directTimeoutMs, wrapTransport: o.wrapTransport,
      onSecured: o.onSecured, verify: o.verify, confirmCode: o.confirmCode, onMove: o.onMove, peerFingerprint: o.peerFingerprint,
    });
    return await useLink(link, use);
  } catch (err) {
    outcome = `failed: ${toSealdropError(err).code}`;
    throw markLost(err, loss.lost());
  } finally {
    loss.stop();
    if (sid) session.close(sid, outcome);
    // Give the close and the last frames a moment to leave before the socket goes.
    await new Promise((r) => setTimeout(r, 50));
    session.disconnect();
  }
}

/**
 * The rendezvous's refusal of a session, in words. Offline and unknown IDs read the
 * same there (it never tells which IDs exist), so both are said here as one.
 */
function openRefusal(peer: string, err: unknown): unknown {
  if (!(err instanceof SealdropError)) return err;
  if (err.code === 'ERR_PEER_OFFLINE') return new SealdropError('ERR_PEER_OFFLINE', `${peer} is not online — check the spelling of the ID`, { cause: err, hint: `IDs are exact; ${peer} must be running \`sealdrop receive\` (\`sealdrop peers\` shows who is)` });
  if (err.code === 'ERR_BUSY') return new SealdropError('ERR_BUSY', `${peer} is busy with another transfer; try again shortly`, { cause: err });
  if (err.code === 'ERR_TIMEOUT') return new SealdropError('ERR_TIMEOUT', `${peer} did not answer the request to join (its \`sealdrop receive\` may be stuck or its network slow)`, { cause: err });
  return err;
}
