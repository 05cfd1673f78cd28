/** `sealdrop send`: one transfer of files and folders to one peer, as a library call. */
import { SealdropError } from '../../shared/errors.js';
import { withPeerLink, type PeerLinkOptions } from '../link/peer-link.js';
import type { ProgressListener } from '../terminal/progress.js';
import { sendEngine, type SentFile } from './send-engine.js';
import { collectSources, type SourceSet } from './source-files.js';
import type { TransportKind } from '../link/transport.js';
import { withContinuation, type ContinuationOptions } from './continuation.js';

export interface SendOptions extends Omit<PeerLinkOptions, 'peer'> {
  to: string;
  /** Paths on disk; or `sources` to name exactly what is sent. */
  paths?: string[];
  sources?: SourceSet;
  onProgress?: ProgressListener;
  /** The offer went out / the receiver took it (`resumed` bytes were there already). */
  onOffered?: () => void;
  onAccepted?: (resumed: number) => void;
  /** Aborting cancels the transfer: the receiver is told, keeps what arrived, and a resend resumes. */
  signal?: AbortSignal;
  /** A lost rendezvous: how long to wait for it and the peer to be back, and what to say meanwhile. */
  continuation?: Omit<ContinuationOptions, 'peer' | 'signal'>;
}

/** What the receiver hears when the sender cancels, before and after it accepted. */
export const CANCELLED_FOR_PEER = 'the sender cancelled; what arrived is kept and resumes when the same files are sent again';
export const WITHDRAWN_FOR_PEER = 'the sender cancelled the offer';

/** `transport`: the path it finished on; `paths`: data-stream bytes each path carried. */
export interface SendOutcome { transport: TransportKind; paths: Record<TransportKind, number>; files: SentFile[]; resumed: number; sas: string }

export async function sendFiles(o: SendOptions): Promise<SendOutcome> {
  const sources = o.sources ?? (await collectSources(o.paths ?? []));
  if (sources.files.length === 0 && sources.dirs.length === 0) throw new SealdropError('ERR_BAD_INPUT', 'nothing to send');
  // A continuation must meet the identity the first session proved.
  let peerFingerprint: string | undefined;
  return withContinuation({ ...o.continuation, peer: o.to, signal: o.signal }, ({ onConnected }) => withPeerLink({
    ...o, peer: o.to, peerFingerprint, onConnected,
    onSecured: (s) => { peerFingerprint ??= s.peerFingerprint; o.onSecured?.(s); },
  }, async (link) => {
    let accepted = false;
    const onAccepted = (resumed: number) => { accepted = true; o.onAccepted?.(resumed); };
    const sending = sendEngine(link.channel, sources, o.onProgress, { peer: o.to, onOffered: o.onOffered, onAccepted });
    const result = await untilAborted(sending, o.signal, () => (accepted ? CANCELLED_FOR_PEER : WITHDRAWN_FOR_PEER));
    return { transport: link.channel.transport.kind, paths: { ...link.channel.paths }, ...result, sas: link.sas };
  }));
}

/** `work`, or a cancellation as soon as `signal` aborts (the link's teardown then stops the work). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined, forPeer: () => string): Promise<T> {
  if (!signal) return work;
  work.catch(() => {}); // once cancelled, its own failure (the channel closing under it) is no news
  const cancelled = () => new SealdropError('ERR_PEER_GONE', 'cancelled', { peerMessage: forPeer() });
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
