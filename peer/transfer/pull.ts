/** `sealdrop ls ID` and `sealdrop get ID NAME`: ask a peer what it shares, and fetch from it. */
import { SealdropError } from '../../shared/errors.js';
import type { Manifest, ShareEntry } from '../link/control-messages.js';
import { refusal, vetReceivedPath } from '../files/safe-names.js';
import { withPeerLink, type PeerLinkOptions } from '../link/peer-link.js';
import type { ProgressListener } from '../terminal/progress.js';
import { receiveEngine, type ReceivedFile } from './receive-engine.js';
import type { TransportKind } from '../link/transport.js';
import { withContinuation, type ContinuationOptions } from './continuation.js';

export type PullOptions = PeerLinkOptions;

/** A listed name, vetted like a received one: `refused` says why it could not be fetched (names are the peer's, shown escaped). */
export interface ListedEntry extends ShareEntry { refused?: string }

export async function listShare(o: PullOptions): Promise<ListedEntry[]> {
  return withPeerLink(o, async (link) => {
    await link.channel.sendControl({ t: 'list' });
    const reply = await link.channel.nextControl();
    if (reply.t === 'reject') throw new SealdropError(reply.code, `${o.peer} refused to list: ${reply.message}`);
    if (reply.t !== 'listing') throw new SealdropError('ERR_PROTOCOL', `expected a listing, got ${reply.t}`);
    return reply.entries.map((e) => {
      const why = refusal(e.name);
      return why ? { ...e, refused: why } : e;
    });
  });
}

export interface GetOptions extends PullOptions {
  name: string; dir: string; onProgress?: ProgressListener;
  /** A lost rendezvous: how long to wait for it and the sharer to be back, and what to say meanwhile. */
  continuation?: Omit<ContinuationOptions, 'peer'>;
}
export interface GetOutcome { transport: TransportKind; paths: Record<TransportKind, number>; files: ReceivedFile[]; resumed: number; sas: string }

/** Fetches one shared file or folder into `dir`; what arrives is vetted like any received name. */
export async function getShared(o: GetOptions): Promise<GetOutcome> {
  // After a lost rendezvous the get is asked again, of the same identity; the partial files make it resume.
  let peerFingerprint: string | undefined;
  return withContinuation({ ...o.continuation, peer: o.peer }, ({ onConnected }) => withPeerLink({
    ...o, peerFingerprint, onConnected,
    onSecured: (s) => { peerFingerprint ??= s.peerFingerprint; o.onSecured?.(s); },
  }, async (link) => {
    await link.channel.sendControl({ t: 'get', name: o.name });
    const reply = await link.channel.nextControl();
    if (reply.t === 'reject') throw new SealdropError(reply.code, reply.message);
    if (reply.t !== 'manifest') throw new SealdropError('ERR_PROTOCOL', `expected the file list, got ${reply.t}`);
    refuseUnasked(o.peer, o.name, reply);
    const result = await receiveEngine(link.channel, reply, {
      dir: o.dir, peerId: o.peer, onProgress: o.onProgress,
      consent: async () => true, // we asked for exactly this, and refuseUnasked made sure it is
    });
    // Read when the last file verified, as send does: while we wait for the sharer to close, its
    // direct path closing makes the opener try to move to the relay, and the channel is then on it.
    const finished = { transport: link.channel.transport.kind, paths: { ...link.channel.paths } };
    await link.channel.ended(5_000);
    return { ...finished, ...result, sas: link.sas };
  }));
}

/**
 * A get delivers only what was asked: the one file under the requested name's last
 * part, or that folder's tree under it. Anything else (other names, a text message,
 * more than one file for a file) refuses the whole answer before a byte is written:
 * a sharer asked for holiday.jpg must not be able to write .ssh/authorized_keys.
 */
export function refuseUnasked(peer: string, asked: string, m: Manifest): void {
  const base = vetReceivedPath(asked).at(-1)!;
  const oneFile = m.files.length === 1 && m.dirs.length === 0 && m.files[0]!.name === base;
  const strays = oneFile ? [] : [
    ...m.files.map((f) => f.name).filter((name) => !name.startsWith(`${base}/`)),
    ...m.dirs.filter((name) => name !== base && !name.startsWith(`${base}/`)),
  ];
  const empty = m.files.length + m.dirs.length === 0;
  if (strays.length > 0 || empty || m.files.some((f) => f.text)) {
    const what = strays.length > 0 ? `, such as ${JSON.stringify(strays[0]).slice(0, 80)}` : '';
    const why = `the answer to the request for ${JSON.stringify(asked)} holds files that were not asked for${what}; nothing was saved`;
    throw new SealdropError('ERR_PROTOCOL', `${peer}: ${why}`, { peerMessage: why });
  }
}
