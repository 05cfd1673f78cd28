/**
 * `sealdrop receive`: stay online and take transfer sessions one at a time.
 * The first message of a session says what the other peer wants: to push
 * files (a manifest), or, with a shared folder, to list or get from it.
 */
import { messageForPeer, SealdropError, toSealdropError } from '../../shared/errors.js';
import type { ControlMessage } from '../link/control-messages.js';
import type { Home } from '../session/home.js';
import type { Account } from '../session/login.js';
import { StayOnline } from '../session/stay-online.js';
import { PinnedKeys } from '../session/pinned-keys.js';
import type { ProgressListener } from '../terminal/progress.js';
import { receiveEngine, type OfferSummary } from './receive-engine.js';
import type { RendezvousSession } from '../session/rendezvous-session.js';
import type { SecureChannel } from '../link/secure-channel.js';
import { sendEngine } from './send-engine.js';
import type { SharedFolder } from './shared-folder.js';
import { establishLink, useLink, type Secured } from '../link/transfer-link.js';
import type { ConfirmCode } from '../link/verification.js';
import type { TransportKind } from '../link/transport.js';
import type { PathMove } from '../link/path-mover.js';
import { isLostRendezvous, markLost, watchLoss } from '../link/peer-link.js';
import { InterruptedPushes, manifestDigest } from './interrupted-pushes.js';
import { DEFAULT_CONTINUE_WITHIN_MS } from './continuation.js';

export interface IncomingInfo extends Secured { from: string }
/** `message`: a text message's words (`send --text`); nothing was written for it. */
export interface OutcomeFile { name: string; bytes: number; sha256: string; path?: string; text?: boolean; message?: string }
export interface ReceiveOutcome {
  /** received: files pushed to us; listed / served: a peer listed or fetched from our shared folder. */
  kind: 'received' | 'listed' | 'served';
  /** `transport`: the path it finished on; `paths`: data-stream bytes each path carried. */
  from: string; transport: TransportKind; paths: Record<TransportKind, number>; files: OutcomeFile[]; resumed: number; sas: string;
}

export interface ReceiveOptions {
  home: Home;
  account: Account;
  dir: string;
  strict?: boolean;
  /** Serve this folder to peers that list or get; `shareAllow` limits who may. */
  share?: SharedFolder;
  shareAllow?: Set<string>;
  /** Take over from another `receive` of this account (which is told, and stops). */
  replace?: boolean;
  /** Stop after one session, whatever its outcome. */
  once?: boolean;
  /** Asks whether to take an offer; `signal` aborts when the time to answer (`consentTimeoutMs`) is up. */
  consent: (offer: OfferSummary, info: IncomingInfo, signal: AbortSignal) => Promise<boolean>;
  consentTimeoutMs?: number;
  onReady?: (session: RendezvousSession) => void;
  /** The rendezvous was lost; the next attempt to come back is in `retryMs`. */
  onReconnecting?: (why: string, retryMs: number) => void;
  /** Back online after a loss. */
  onOnline?: (session: RendezvousSession) => void;
  onSecured?: (info: IncomingInfo) => void;
  /** A session moved to another path in the middle. */
  onMove?: (m: PathMove, from: string) => void;
  /** `--verify`: each session waits until this side's person confirms the code (`confirmCode`). */
  verify?: boolean;
  confirmCode?: ConfirmCode;
  onProgress?: ProgressListener;
  /** An offer was accepted; `resumed` bytes of it were here from an earlier attempt. */
  onAccepted?: (resumed: number, from: string) => void;
  onDone?: (outcome: ReceiveOutcome) => void | Promise<void>;
  onFailed?: (err: SealdropError, from: string) => void;
  /**
   * A push this side had accepted was cut by the loss of the rendezvous: its partial files are kept and, when
   * the same sender comes back with the same files within `waitMs`, it continues without asking again.
   */
  onInterrupted?: (err: SealdropError, from: string, waitMs: number) => void;
  /** The sender came back with the files of an interrupted transfer: taken without asking again. */
  onContinuing?: (offer: OfferSummary, from: string) => void;
  /** How long an interrupted push waits for its sender to come back (default 60 s). */
  continueWithinMs?: number;
  /** Resolves to stop listening. */
  stop?: Promise<void>;
}

/**
 * Resolves when stopped (or after one session with `once`); rejects with that session's error
 * under `once`, or when coming back online cannot work (revoked, wrong secret). A lost
 * rendezvous is not an end: it reconnects by itself, and a session running on the direct
 * path goes on meanwhile.
 */
export async function receiveLoop(o: ReceiveOptions): Promise<void> {
  const identity = await o.home.identity();
  const pins = new PinnedKeys(o.home);
  let busy = false;
  const waiting = new InterruptedPushes(o.continueWithinMs ?? DEFAULT_CONTINUE_WITHIN_MS, (err, from) => {
    o.onFailed?.(err, from);
    if (o.once) finish(err);
  });
  let online: StayOnline | undefined;
  let finish: (err?: SealdropError) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    finish = (err) => {
      online?.stop();
      waiting.clear();
      if (err) reject(err); else resolve();
    };
  });
  const take = (session: RendezvousSession) => session.on('request', (req) => {
      if (busy) return req.busy();
      busy = true;
      req.accept(true);
      const accepted: { digest?: string; fingerprint?: string } = {};
      serveSession(o, session, req.sid, req.from, identity, pins, waiting, accepted).then(
        // A listing is not a transfer: --once waits for files to move.
        async (outcome) => {
          if (outcome.kind === 'received') waiting.settle(req.from);
          await Promise.resolve(o.onDone?.(outcome)).catch(() => {});
          busy = false;
          if (o.once && outcome.kind !== 'listed') finish();
        },
        (err) => {
          const e = toSealdropError(err);
          busy = false;
          // Cut by the lost rendezvous after this side accepted: the sender may come back (under --once too).
          if (isLostRendezvous(e) && accepted.digest && accepted.fingerprint) {
            waiting.expect(req.from, accepted.fingerprint, accepted.digest, e);
            o.onInterrupted?.(e, req.from, waiting.withinMs);
            return;
          }
          if (accepted.digest) waiting.settle(req.from);
          o.onFailed?.(e, req.from);
          if (o.once) finish(e);
        },
      );
    });
  online = await StayOnline.start({
    home: o.home, account: o.account, receiving: true, replace: o.replace,
    onSession: (session, again) => {
      take(session);
      if (again) o.onOnline?.(session); else o.onReady?.(session);
    },
    onReconnecting: o.onReconnecting,
    onGiveUp: (err) => finish(err),
  });
  o.stop?.then(() => finish());
  return done;
}

/**
 * One session. `accepted` is filled in when this side takes a push (the files' digest, the sender's
 * identity), so a loss of the rendezvous afterwards can be continued.
 */
async function serveSession(
  o: ReceiveOptions, session: RendezvousSession, sid: string, from: string, identity: Awaited<ReturnType<Home['identity']>>, pins: PinnedKeys,
  waiting: InterruptedPushes, accepted: { digest?: string; fingerprint?: string },
): Promise<ReceiveOutcome> {
  let outcome = 'done';
  const loss = watchLoss(session);
  try {
    let secured: IncomingInfo | undefined;
    const link = await establishLink({
      session, sid, peerId: from, role: 'receiver', identity, pins, strict: o.strict ?? o.account.strict,
      onSecured: (s) => { secured = { ...s, from }; o.onSecured?.(secured); }, verify: o.verify, confirmCode: o.confirmCode,
      onMove: (m) => o.onMove?.(m, from),
    });
    const info = secured!; // establishLink reports it before it returns
    // Read when the session ends: the path it finished on, and what each path carried.
    const base = { from, get transport() { return link.channel.transport.kind; }, get paths() { return { ...link.channel.paths }; }, sas: link.sas };
    return await useLink(link, async ({ channel }) => {
      const first = await channel.nextControl();
      if (first.t === 'manifest') {
        const digest = manifestDigest(first);
        const consent = async (offer: OfferSummary, signal: AbortSignal) => {
          // The same files from the same identity, accepted in this process and cut by the lost rendezvous: not asked again.
          const yes = waiting.take(from, info.peerFingerprint, digest) ? (o.onContinuing?.(offer, from), true) : await o.consent(offer, info, signal);
          if (yes) Object.assign(accepted, { digest, fingerprint: info.peerFingerprint });
          return yes;
        };
        const result = await receiveEngine(channel, first, { dir: o.dir, peerId: from, onProgress: o.onProgress, consent, consentTimeoutMs: o.consentTimeoutMs, onAccepted: (resumed) => o.onAccepted?.(resumed, from) });
        await channel.ended(5_000);
        return { kind: 'received' as const, ...base, ...result };
      }
      const share = await shareFor(o, from, first, channel);
      if (first.t === 'list') {
        await channel.sendControl({ t: 'listing', ...(await share.list()) });
        await channel.ended(5_000);
        return { kind: 'listed' as const, ...base, files: [], resumed: 0 };
      }
      if (first.t !== 'get') throw new SealdropError('ERR_PROTOCOL', `a session cannot start with ${first.t}`);
      const sources = await share.resolve(first.name).catch(async (err) => {
        const e = toSealdropError(err);
        await channel.sendControl({ t: 'reject', code: e.code, message: messageForPeer(e) });
        throw e;
      });
      const result = await sendEngine(channel, sources, o.onProgress);
      return { kind: 'served' as const, ...base, ...result };
    });
  } catch (err) {
    outcome = `failed: ${toSealdropError(err).code}`;
    throw markLost(err, loss.lost());
  } finally {
    loss.stop();
    session.close(sid, outcome);
  }
}

/** The shared folder, if this peer may use it; otherwise a reject is sent and thrown. */
async function shareFor(o: ReceiveOptions, from: string, first: ControlMessage, channel: SecureChannel): Promise<SharedFolder> {
  let refusal: SealdropError | undefined;
  if (first.t !== 'list' && first.t !== 'get') refusal = new SealdropError('ERR_PROTOCOL', `a session cannot start with ${first.t}`);
  else if (!o.share) refusal = new SealdropError('ERR_NOT_FOUND', `${o.account.id} shares nothing (it would need receive --share DIR)`);
  else if (o.shareAllow && !o.shareAllow.has(from)) refusal = new SealdropError('ERR_REJECTED', `${o.account.id} does not share with ${from}`);
  if (refusal) {
    await channel.sendControl({ t: 'reject', code: refusal.code, message: refusal.message }).catch(() => {});
    throw refusal;
  }
  return o.share!;
}
