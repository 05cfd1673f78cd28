/** `sealdrop send`: one transfer of files and folders to one peer, as a library call. */
import { SealdropError } from '../../shared/errors.js';
import { withPeerLink, type PeerLinkOptions } from '../link/peer-link.js';
import type { ProgressListener } from '../terminal/progress.js';
import { sendEngine, type SentFile } from './send-engine.js';
import { collectSources, type SourceSet } from './source-files.js';
import type { TransportKind } from '../link/transport.js';

export interface SendOptions extends Omit<PeerLinkOptions, 'peer'> {
  to: string;
  /** Paths on disk; or `sources` to name exactly what is sent. */
  paths?: string[];
  sources?: SourceSet;
  onProgress?: ProgressListener;
}

export interface SendOutcome { transport: TransportKind; files: SentFile[]; resumed: number; sas: string }

export async function sendFiles(o: SendOptions): Promise<SendOutcome> {
  const sources = o.sources ?? (await collectSources(o.paths ?? []));
  if (sources.files.length === 0 && sources.dirs.length === 0) throw new SealdropError('ERR_BAD_INPUT', 'nothing to send');
  return withPeerLink({ ...o, peer: o.to }, async (link) => {
    const result = await sendEngine(link.channel, sources, o.onProgress);
    return { transport: link.transport, ...result, sas: link.sas };
  });
}
