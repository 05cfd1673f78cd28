/**
 * `sealdrop receive`: stay online, take transfer sessions one at a time, and
 * hand each to the receive engine. Library call; the CLI decides how to ask.
 */
import { randomBytes } from 'node:crypto';
import { SealdropError, toSealdropError } from '../shared/errors.js';
import type { Home } from './home.js';
import { connect, type Account } from './login.js';
import { PinnedKeys } from './pinned-keys.js';
import type { ProgressListener } from './progress.js';
import { receiveEngine, type OfferSummary, type ReceivedFile } from './receive-engine.js';
import type { RendezvousSession } from './rendezvous-session.js';
import { establishLink } from './transfer-link.js';
import type { TransportKind } from './transport.js';

export interface IncomingInfo { from: string; sas: string; peerFingerprint: string; transport: TransportKind; pinnedNow: boolean }
export interface ReceiveOutcome { from: string; transport: TransportKind; files: ReceivedFile[]; resumed: number; sas: string }

export interface ReceiveOptions {
  home: Home;
  account: Account;
  dir: string;
  strict?: boolean;
  /** Stop after one transfer, whatever its outcome. */
  once?: boolean;
  consent: (offer: OfferSummary, info: IncomingInfo) => Promise<boolean>;
  onReady?: (session: RendezvousSession) => void;
  onSecured?: (info: IncomingInfo) => void;
  onProgress?: ProgressListener;
  onDone?: (outcome: ReceiveOutcome) => void;
  onFailed?: (err: SealdropError, from: string) => void;
  /** Resolves to stop listening. */
  stop?: Promise<void>;
}

/** Resolves when stopped (or after one transfer with `once`); rejects with that transfer's error under `once`. */
export async function receiveLoop(o: ReceiveOptions): Promise<void> {
  const identity = await o.home.identity();
  const pins = new PinnedKeys(o.home);
  const session = await connect(o.home, o.account, { receiving: true });
  o.onReady?.(session);
  let busy = false;
  return new Promise<void>((resolve, reject) => {
    const finish = (err?: SealdropError) => {
      session.disconnect();
      if (err) reject(err); else resolve();
    };
    o.stop?.then(() => finish());
    session.on('disconnect', (reason) => {
      if (reason !== 'io client disconnect') finish(new SealdropError('ERR_CONNECT', `lost the connection to the rendezvous (${reason})`));
    });
    session.on('request', (req) => {
      if (busy) return req.accept(false);
      busy = true;
      req.accept(true);
      receiveOne(o, session, req.sid, req.from, identity, pins).then(
        (outcome) => { o.onDone?.(outcome); busy = false; if (o.once) finish(); },
        (err) => {
          const e = toSealdropError(err);
          o.onFailed?.(e, req.from);
          busy = false;
          if (o.once) finish(e);
        },
      );
    });
  });
}

async function receiveOne(o: ReceiveOptions, session: RendezvousSession, sid: string, from: string, identity: Awaited<ReturnType<Home['identity']>>, pins: PinnedKeys): Promise<ReceiveOutcome> {
  try {
    const link = await establishLink({ session, sid, peerId: from, role: 'receiver', identity, pins, strict: o.strict ?? o.account.strict });
    const info: IncomingInfo = { from, sas: link.sas, peerFingerprint: link.peerFingerprint, transport: link.transport, pinnedNow: link.pin === 'pinned-now' };
    o.onSecured?.(info);
    try {
      const result = await receiveEngine(link.channel, {
        dir: o.dir, tag: randomBytes(6).toString('hex'), onProgress: o.onProgress,
        consent: (offer) => o.consent(offer, info),
      });
      await link.channel.ended(5_000);
      return { from, transport: link.transport, ...result, sas: link.sas };
    } catch (err) {
      const e = toSealdropError(err);
      await link.channel.sendControl({ t: 'abort', code: e.code, message: e.message }).catch(() => {});
      throw e;
    } finally {
      link.channel.close();
      link.inbox.dispose();
    }
  } finally {
    session.close(sid, 'done');
  }
}
