/** `sealdrop send`: one transfer of files and folders to one peer, as a library call. */
import { SealdropError, toSealdropError } from '../shared/errors.js';
import type { Home } from './home.js';
import type { Account } from './login.js';
import { connect } from './login.js';
import { PinnedKeys } from './pinned-keys.js';
import type { ProgressListener } from './progress.js';
import { sendEngine, type SentFile } from './send-engine.js';
import { collectSources, type SourceSet } from './source-files.js';
import { establishLink, type TransportMode } from './transfer-link.js';
import type { Transport, TransportKind } from './transport.js';

export interface SendOptions {
  home: Home;
  account: Account;
  to: string;
  /** Paths on disk; or `sources` to name exactly what is sent. */
  paths?: string[];
  sources?: SourceSet;
  mode?: TransportMode;
  directTimeoutMs?: number;
  strict?: boolean;
  onProgress?: ProgressListener;
  /** Called once keys are agreed: the short authentication string to compare. */
  onSecured?: (info: { sas: string; peerFingerprint: string; transport: TransportKind; pinnedNow: boolean }) => void;
  onStatus?: (text: string) => void;
  wrapTransport?: (t: Transport) => Transport;
}

export interface SendOutcome { transport: TransportKind; files: SentFile[]; resumed: number; sas: string }

export async function sendFiles(o: SendOptions): Promise<SendOutcome> {
  if (o.to === o.account.id) throw new SealdropError('ERR_BAD_INPUT', 'you cannot send to yourself');
  const sources = o.sources ?? (await collectSources(o.paths ?? []));
  if (sources.files.length === 0 && sources.dirs.length === 0) throw new SealdropError('ERR_BAD_INPUT', 'nothing to send');
  const identity = await o.home.identity();
  const session = await connect(o.home, o.account, { onWait: (s) => o.onStatus?.(`waiting ${s} s for a fresh TOTP code`) });
  let sid: string | undefined;
  try {
    o.onStatus?.(`asking ${o.to} to join`);
    sid = await session.open(o.to);
    const link = await establishLink({
      session, sid, peerId: o.to, role: 'sender', identity, pins: new PinnedKeys(o.home),
      strict: o.strict ?? o.account.strict, mode: o.mode, directTimeoutMs: o.directTimeoutMs, wrapTransport: o.wrapTransport,
    });
    o.onSecured?.({ sas: link.sas, peerFingerprint: link.peerFingerprint, transport: link.transport, pinnedNow: link.pin === 'pinned-now' });
    try {
      const result = await sendEngine(link.channel, sources, o.onProgress);
      return { transport: link.transport, ...result, sas: link.sas };
    } catch (err) {
      const e = toSealdropError(err);
      await link.channel.sendControl({ t: 'abort', code: e.code, message: e.message }).catch(() => {});
      throw e;
    } finally {
      link.channel.close();
      link.inbox.dispose();
    }
  } finally {
    if (sid) session.close(sid, 'done');
    // Give the close and the last frames a moment to leave before the socket goes.
    await new Promise((r) => setTimeout(r, 50));
    session.disconnect();
  }
}
