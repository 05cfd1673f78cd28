/**
 * A malicious rendezvous, for tests only. Peers connect to it as to any rendezvous;
 * for each peer it opens its own client connection to a real rendezvous with the
 * peer's handshake auth, and forwards every event both ways, acknowledgements and
 * binary relay frames included. So it sees and controls all the rendezvous sees,
 * exactly like a compromised server, while the real one does the bookkeeping.
 *
 * Protocol version 2: the opener sends a `commit` first and reveals its `hello` only after
 * the accepter's hello. Whatever it rewrites, the MITM keeps its own commitments
 * consistent (it commits, towards the accepter, to the hello it will later reveal), so
 * each check fails for the reason a test names, not for a broken commitment.
 *
 * What it does to the `commit` and `hello` signals it forwards depends on `mode`:
 * - honest:           nothing (a pure proxy that records what it saw);
 * - swap-keys:        replaces the identity and ephemeral keys with its own and re-signs
 *                     the hello with its own identity key (a valid signature, wrong key).
 *                     It does not decrypt: each peer agrees a key with the MITM, not with
 *                     the other peer, and the MITM passes their frames on unchanged;
 * - re-encrypt:       swap-keys, plus it drops the WebRTC signals (so the direct path
 *                     fails and the sender falls back to the relay), then opens every
 *                     relay frame with one peer's key and seals it again with the other's:
 *                     a complete man in the middle, which records what it read;
 * - swap-ephemeral:   replaces only the ephemeral key, keeping the peer's identity and signature;
 * - tamper-signature: flips one bit of the signature;
 * - low-order:        like swap-keys, but the ephemeral key is a point of order 8 (which
 *                     would force a known shared secret), validly signed by the MITM;
 * - flip-transport:   hellos untouched; the opener's `transport` signal is inverted on its
 *                     way to the accepter (direct ↔ relay).
 * - break-batch:      hellos untouched; every relay batch (`relay:frames`) on its way to a
 *                     peer loses its last byte, so it no longer splits into whole frames;
 * - reorder-batch:    hellos untouched; the frames inside each relay batch reach the peer
 *                     in reverse order (a well-formed batch, frames out of order);
 * - no-batches:       a pure proxy whose `welcome` does not offer batches (an older
 *                     rendezvous): the peers must fall back to one frame per message.
 * - four-frame-batches: a pure proxy that does not pass the peers' request for large batches
 *                     on (the login's query), as a rendezvous that predates them: batches of
 *                     at most four frames. Every other mode passes it on.
 * - replay-moves:     hellos untouched; it keeps (a bounded number of) the relay frames it
 *                     delivered to each peer, and `replay(account)` sends them to that peer
 *                     again, with forged move-stream frames (genuine frames re-labelled as
 *                     `move` #0…#3, and random ones): a rendezvous faking a path move and
 *                     replaying the old path's frames after the transfer moved. It holds the
 *                     WebRTC signals going down to a peer until REPLAYABLE relay frames went
 *                     down to it, so the relay has carried frames to replay before the direct
 *                     path can open (on a fast machine it otherwise opened first, and there was
 *                     nothing to replay).
 * - reorder-after-move: hellos untouched; once a peer answered a move over the relay (its `moved`,
 *                     a move-stream frame going up: headers are in clear), the relay carries its
 *                     transfer, and the first two consecutive data chunks going down to it there
 *                     reach it swapped (`swapped` names their indices). Only chunks the peer must
 *                     take at its next positions: a swap of frames it would drop proves nothing;
 * - duplicate-move:   hellos untouched; every move-stream frame going down to a peer is
 *                     delivered twice (a replayed, genuine move).
 * `victim` limits the frame-altering modes above to the frames going down to one account.
 *
 * In the swapping modes the MITM plays its best strategy against the verification code:
 * towards the accepter it must commit to its key before it sees the accepter's; towards the
 * opener it must show its key before the opener reveals its own. So it can compute the
 * accepter's code but not the opener's, and gets one guess per session (`codes` records
 * what it could know). Against version 1, where both honest keys were on the wire before
 * the MITM answered either, it could search for a pair of its keys that gave both sides
 * the same code (test/trust-commitment.test.ts shows that search).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_SOCKET_MESSAGE } from '../../shared/constants.js';
import { Server, type Socket as ServerSocket } from 'socket.io';
import { io as ioClient, type Socket as ClientSocket } from 'socket.io-client';
import {
  deriveTransferKeys, ephemeralFromSeed, fingerprint, helloCommitment, identityFromSeed, signHello,
  type KeyPair, type Role, type TransferKeys,
} from '../../shared/crypto.js';
import { decodeHeader, MOVE_STREAM, openFrame, sealFrame, type FrameHeader } from '../../shared/framing.js';
import { putFrame, splitBatch } from '../../shared/relay-batch.js';

export type MitmMode = 'honest' | 'swap-keys' | 're-encrypt' | 'swap-ephemeral' | 'tamper-signature' | 'low-order' | 'flip-transport'
  | 'break-batch' | 'reorder-batch' | 'no-batches' | 'four-frame-batches' | 'replay-moves' | 'reorder-after-move' | 'duplicate-move';

export interface ForwardedEvent {
  /** up: peer → real rendezvous; down: real rendezvous → peer. */
  direction: 'up' | 'down';
  /** The account of the peer on this connection. */
  account: string;
  event: string;
  /** The arguments without the ack function (Buffers as received). */
  args: unknown[];
  /** For a batch going up (`relay:frames`): how many frames it held. */
  frames?: number;
}

/** A frame the MITM opened in re-encrypt mode. */
export interface ReadFrame extends FrameHeader { sid: string; from: string; plaintext: Buffer }

export interface MitmRendezvous {
  readonly url: string;
  /** Read at every forwarded hello and frame, so a test can switch it between transfers. */
  mode: MitmMode;
  /** The MITM's own identity key and its fingerprint (what the peers see when it swaps keys). */
  readonly identity: KeyPair;
  readonly fingerprint: string;
  /** Everything forwarded, in order (relay frames as the peer sent them). */
  readonly log: ForwardedEvent[];
  /** Frames read in re-encrypt mode. */
  readonly read: ReadFrame[];
  /** Only frames going down to this account are altered by the move modes (default: every account). */
  victim?: string;
  /** Hellos altered so far (and, in the move modes, frames). */
  readonly tampered: number;
  /** reorder-after-move: the data chunk indices swapped, as [first, second] in the order sent. */
  readonly swapped: Array<[number, number]>;
  /** Relay frames sent by peers, and their bytes. */
  relayFrames(): { frames: number; bytes: number };
  /** Forgets the log, what it read and the counters. */
  reset(): void;
  /** replay-moves: sends `account` again the relay frames it was given, and forged moves; resolves with how many. */
  replay(account: string): Promise<number>;
  close(): Promise<void>;
}

/** A Curve25519 point of order 8: any clamped scalar times it is the point at infinity. */
const ORDER_8_POINT = Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex');

interface HelloData { type: 'hello'; v: number; identityKey: string; ephemeralKey: string; signature: string }
interface SignalDown { sid: string; from: string; data: { type: string } }
/** A peer's genuine hello, as the MITM saw it. */
interface Genuine { role: Role; identity: Buffer; ephemeral: Buffer }

/** replay-moves: relay frames a peer is given before the WebRTC signals for it pass. */
const REPLAYABLE = 8;

export async function startMitmRendezvous(upstreamUrl: string, mode: MitmMode = 'honest'): Promise<MitmRendezvous> {
  const http = createServer((_req, res) => { res.writeHead(404).end(); });
  const io = new Server(http, { transports: ['websocket'], maxHttpBufferSize: MAX_SOCKET_MESSAGE, serveClient: false });
  const identity = identityFromSeed(randomBytes(32));
  const upstreams = new Set<ClientSocket>();
  /** `${sid}/${author}` → the ephemeral key the MITM shows in place of the author's. */
  const ephemerals = new Map<string, KeyPair>();
  /** `${sid}/${author}` → the author's genuine hello. */
  const genuine = new Map<string, Genuine>();
  /** sid → the two members, once both hellos passed. */
  const members = new Map<string, Set<string>>();
  /** sid → the opener, its genuine commitment, and the one the accepter was shown. */
  const commits = new Map<string, { opener: string; genuine: Buffer; shown: Buffer }>();
  let tampered = 0;
  /** replay-moves: the frames delivered to each account (at most 256 each), and its connection. */
  const delivered = new Map<string, Array<{ sid: string; frame: Buffer }>>();
  /** reorder-after-move: accounts that answered a move over the relay, whose next two consecutive data chunks are to be swapped. */
  const swapNext = new Set<string>();
  const isMove = (f: Buffer) => f.length >= 14 && f[0] === 1 && f.readUInt32BE(1) === MOVE_STREAM;
  const isChunk = (f: Buffer) => f.length >= 14 && f[0] === 2;
  const indexOf = (f: Buffer) => decodeHeader(f).index;
  const downs = new Map<string, ServerSocket>();
  /** replay-moves: WebRTC signals held back from each account until it was given REPLAYABLE relay frames. */
  const heldSignals = new Map<string, unknown[][]>();

  const state: MitmRendezvous = {
    url: '',
    mode,
    identity,
    fingerprint: fingerprint(identity.publicKey),
    log: [],
    read: [],
    get tampered() { return tampered; },
    swapped: [],
    relayFrames() {
      const frames = state.log.filter((e) => e.event === 'relay:frame' && e.direction === 'up');
      return { frames: frames.length, bytes: frames.reduce((n, e) => n + (e.args[1] as Buffer).length, 0) };
    },
    reset() { state.log.length = 0; state.read.length = 0; state.swapped.length = 0; tampered = 0; },
    async replay(account) {
      const to = downs.get(account);
      const kept = delivered.get(account) ?? [];
      if (!to || kept.length === 0) return 0;
      const forged: Buffer[] = [];
      for (let index = 0; index < 4; index++) {
        for (const base of [kept[0]!.frame, randomBytes(80)]) {
          const f = Buffer.from(base);
          f[0] = 1; // control
          f.writeUInt32BE(MOVE_STREAM, 1);
          f.writeUInt32BE(0, 5);
          f.writeUInt32BE(index, 9);
          f[13] = 1; // LAST
          forged.push(f);
        }
      }
      const all = [...kept.map((k) => [k.sid, k.frame] as const), ...forged.map((f) => [kept[0]!.sid, f] as const)];
      await Promise.all(all.map(([sid, frame]) => new Promise<void>((resolve) => {
        to.timeout(5_000).emit('relay:frame', sid, frame, () => resolve());
      })));
      tampered += all.length;
      return all.length;
    },
    async close() {
      for (const up of upstreams) up.close();
      const closing = io.close();
      http.closeAllConnections();
      await closing;
    },
  };

  const swapping = () => state.mode === 'swap-keys' || state.mode === 're-encrypt' || state.mode === 'low-order';
  /** The hello the MITM shows `to` in place of `author`'s in a swapping mode: its own identity, its own ephemeral key. */
  const forgedHello = (sid: string, author: string, to: string, role: Role): HelloData => {
    const key = `${sid}/${author}`;
    if (!ephemerals.has(key)) ephemerals.set(key, ephemeralFromSeed(randomBytes(32)));
    const ephemeralKey = state.mode === 'low-order' ? ORDER_8_POINT : ephemerals.get(key)!.publicKey;
    const signature = signHello(identity.privateKey, { sid, role, from: author, to, ephemeralKey });
    return { type: 'hello', v: 2, identityKey: identity.publicKey.toString('base64'), ephemeralKey: ephemeralKey.toString('base64'), signature: signature.toString('base64') };
  };
  const commitOf = (sid: string, h: HelloData) => helloCommitment(sid, Buffer.from(h.identityKey, 'base64'), Buffer.from(h.ephemeralKey, 'base64'), Buffer.from(h.signature, 'base64'));

  /** Rewrites a commit, hello or transport signal on its way down to `to`, according to the mode. */
  const rewrite = (ev: SignalDown, to: string): SignalDown => {
    // These modes leave every signal alone (what they change is relay batches or the welcome).
    if (state.mode === 'honest' || state.mode === 'break-batch' || state.mode === 'reorder-batch' || state.mode === 'no-batches' || state.mode === 'four-frame-batches' || state.mode === 'replay-moves'
      || state.mode === 'reorder-after-move' || state.mode === 'duplicate-move') return ev;
    if (ev.data.type === 'transport') {
      if (state.mode !== 'flip-transport') return ev;
      tampered++;
      const mode = (ev.data as unknown as { mode: string }).mode === 'direct' ? 'relay' : 'direct';
      return { ...ev, data: { type: 'transport', mode } as SignalDown['data'] };
    }
    if (state.mode === 'flip-transport') return ev;
    if (ev.data.type === 'commit') {
      // Only the opener commits. It must be answered now, before the MITM sees the accepter's key.
      const c = ev.data as unknown as { type: 'commit'; v: number; commit: string };
      members.set(ev.sid, (members.get(ev.sid) ?? new Set<string>()).add(ev.from).add(to));
      const shown = swapping() ? commitOf(ev.sid, forgedHello(ev.sid, ev.from, to, 'sender')) : Buffer.from(c.commit, 'base64');
      commits.set(ev.sid, { opener: ev.from, genuine: Buffer.from(c.commit, 'base64'), shown });
      if (!swapping()) return ev;
      return { ...ev, data: { ...c, commit: shown.toString('base64') } as SignalDown['data'] };
    }
    if (ev.data.type !== 'hello') return ev;
    const hello = ev.data as HelloData;
    const role: Role = commits.get(ev.sid)?.opener === ev.from ? 'sender' : 'receiver';
    const key = `${ev.sid}/${ev.from}`;
    genuine.set(key, { role, identity: Buffer.from(hello.identityKey, 'base64'), ephemeral: Buffer.from(hello.ephemeralKey, 'base64') });
    members.set(ev.sid, (members.get(ev.sid) ?? new Set<string>()).add(ev.from).add(to));
    let out: HelloData;
    if (swapping()) {
      // The same forged hello it committed to (opener), or a fresh one (accepter): its best strategy,
      // since the code the opener will see depends on a key the opener has not revealed yet.
      out = forgedHello(ev.sid, ev.from, to, role);
    } else if (state.mode === 'swap-ephemeral') {
      if (!ephemerals.has(key)) ephemerals.set(key, ephemeralFromSeed(randomBytes(32)));
      out = { ...hello, ephemeralKey: ephemerals.get(key)!.publicKey.toString('base64') };
    } else {
      const signature = Buffer.from(hello.signature, 'base64');
      signature[10] ^= 0x01;
      out = { ...hello, signature: signature.toString('base64') };
    }
    tampered++;
    return { ...ev, data: out as SignalDown['data'] };
  };

  /** The keys `peer` agreed with the MITM (which it believes it shares with `other`). */
  const keysWith = (sid: string, peer: string, other: string): TransferKeys => {
    const mine = ephemerals.get(`${sid}/${other}`)!;
    const p = genuine.get(`${sid}/${peer}`)!;
    const sender = p.role === 'sender';
    const c = commits.get(sid)!;
    return deriveTransferKeys(mine, p.ephemeral, {
      sid,
      // The opener's transcript holds its own commitment; the accepter's, the one it was shown.
      commitment: sender ? c.genuine : c.shown,
      senderId: sender ? peer : other,
      receiverId: sender ? other : peer,
      senderIdentity: sender ? p.identity : identity.publicKey,
      receiverIdentity: sender ? identity.publicKey : p.identity,
      senderEphemeral: sender ? p.ephemeral : mine.publicKey,
      receiverEphemeral: sender ? mine.publicKey : p.ephemeral,
    });
  };

  /** re-encrypt: opens a relay frame from `from` and seals it for the other peer. */
  const reseal = (sid: string, from: string, frame: Buffer): Buffer => {
    const to = [...(members.get(sid) ?? [])].find((m) => m !== from);
    const role = genuine.get(`${sid}/${from}`)?.role;
    if (!to || !role) return frame;
    const pick = (k: TransferKeys) => (role === 'sender' ? k.senderKey : k.receiverKey);
    const transferId = Buffer.from(sid, 'hex');
    const header = decodeHeader(frame);
    const { plaintext } = openFrame(pick(keysWith(sid, from, to)), transferId, frame, header);
    state.read.push({ sid, from, ...header, plaintext });
    return sealFrame(pick(keysWith(sid, to, from)), transferId, header, plaintext);
  };

  io.use((socket, next) => {
    const auth = socket.handshake.auth as { id?: string };
    const account = String(auth.id ?? '?');
    const { batchFrames } = socket.handshake.query as { batchFrames?: string };
    const query = batchFrames !== undefined && state.mode !== 'four-frame-batches' ? { batchFrames } : {};
    const up: ClientSocket = ioClient(upstreamUrl, { auth: socket.handshake.auth, query, transports: ['websocket'], reconnection: false, forceNew: true });
    upstreams.add(up);
    // Events from upstream wait here until the peer's connection is fully established.
    const early: unknown[][] = [];
    let down: ServerSocket | undefined;
    const sendDown = (event: string, args: unknown[]) => {
      const ack = typeof args[args.length - 1] === 'function' ? args.pop() as (...res: unknown[]) => void : undefined;
      const signal = event === 'signal' ? args[0] as SignalDown : undefined;
      if (signal?.data.type === 'webrtc' && state.mode === 're-encrypt') return; // no direct path: everything through us
      if (event === 'welcome' && state.mode === 'no-batches') { delete (args[0] as { relayBatch?: true }).relayBatch; delete (args[0] as { relayBatchFrames?: number }).relayBatchFrames; }
      if ((event === 'relay:frame' || event === 'relay:frames') && state.mode === 'replay-moves') {
        const kept = delivered.get(account) ?? [];
        delivered.set(account, kept);
        const frames = event === 'relay:frames' ? splitBatch(args[1] as Buffer) : [args[1] as Buffer];
        for (const f of frames) if (kept.length < 256) kept.push({ sid: args[0] as string, frame: Buffer.from(f) });
        const held = heldSignals.get(account);
        if (held && kept.length >= REPLAYABLE) {
          heldSignals.delete(account);
          setImmediate(() => { for (const [e, ...a] of held) sendDown(e as string, a); }); // after this frame
        }
      }
      if (signal?.data.type === 'webrtc' && state.mode === 'replay-moves' && (delivered.get(account)?.length ?? 0) < REPLAYABLE) {
        const held = heldSignals.get(account) ?? [];
        heldSignals.set(account, held);
        held.push([event, ...args, ...(ack ? [ack] : [])]);
        return;
      }
      const relayed = event === 'relay:frame' || event === 'relay:frames';
      if (relayed && (state.mode === 'reorder-after-move' || state.mode === 'duplicate-move') && (!state.victim || state.victim === account)) {
        const frames = event === 'relay:frames' ? splitBatch(args[1] as Buffer) : [args[1] as Buffer];
        const move = frames.find(isMove);
        if (move && state.mode === 'duplicate-move') {
          tampered++;
          const copy = Buffer.from(move);
          setTimeout(() => down!.emit('relay:frame', args[0] as string, copy, () => {}), 50);
        } else if (state.mode === 'reorder-after-move' && swapNext.has(account) && event === 'relay:frames') {
          // Two data chunks at consecutive positions, on the path that carries the transfer for `account` now.
          const at = frames.findIndex((f, i) => i + 1 < frames.length && isChunk(f) && isChunk(frames[i + 1]!) && indexOf(frames[i + 1]!) === indexOf(f) + 1);
          if (at >= 0) {
            swapNext.delete(account);
            tampered++;
            state.swapped.push([indexOf(frames[at]!), indexOf(frames[at + 1]!)]);
            [frames[at], frames[at + 1]] = [frames[at + 1]!, frames[at]!];
            const out = Buffer.alloc((args[1] as Buffer).length);
            frames.reduce((pos, f) => putFrame(out, pos, f), 0);
            args[1] = out;
          }
        }
      }
      if (event === 'relay:frames' && state.mode === 'break-batch') args[1] = (args[1] as Buffer).subarray(0, (args[1] as Buffer).length - 1);
      if (event === 'relay:frames' && state.mode === 'reorder-batch') {
        const frames = splitBatch(args[1] as Buffer).reverse();
        const out = Buffer.alloc((args[1] as Buffer).length);
        frames.reduce((at, f) => putFrame(out, at, f), 0);
        args[1] = out;
      }
      const outArgs = signal ? [rewrite(signal, account), ...args.slice(1)] : args;
      state.log.push({ direction: 'down', account, event, args: outArgs });
      if (ack) down!.emit(event, ...outArgs, (...res: unknown[]) => ack(...res));
      else down!.emit(event, ...outArgs);
    };
    up.onAny((event: string, ...args: unknown[]) => {
      if (down) sendDown(event, args);
      else early.push([event, ...args]);
    });
    up.once('connect_error', (err: Error & { data?: unknown }) => {
      upstreams.delete(up);
      up.close();
      // Pass the real rendezvous' refusal on unchanged, code and all.
      const refusal = new Error(err.message) as Error & { data?: unknown };
      refusal.data = err.data;
      next(refusal);
    });
    up.once('connect', () => {
      socket.data.attach = (s: ServerSocket) => {
        down = s;
        downs.set(account, s);
        for (const [event, ...args] of early.splice(0)) sendDown(event as string, args);
        s.onAny((event: string, ...args: unknown[]) => {
          const ack = typeof args[args.length - 1] === 'function' ? args.pop() as (...res: unknown[]) => void : undefined;
          // A batch (relay:frames) is logged, and re-sealed, frame by frame, as if each had come alone.
          const frames = event === 'relay:frames' ? splitBatch(args[1] as Buffer) : event === 'relay:frame' ? [args[1] as Buffer] : [];
          if (event === 'relay:frames') {
            state.log.push({ direction: 'up', account, event, args: [args[0]], frames: frames.length }); // the batch itself, for counting
            for (const f of frames) state.log.push({ direction: 'up', account, event: 'relay:frame', args: [args[0], Buffer.from(f)] });
          }
          else state.log.push({ direction: 'up', account, event, args: [...args] });
          // Its `moved` went up over the relay: from here on the relay carries this account's transfer.
          if (state.mode === 'reorder-after-move' && (!state.victim || state.victim === account) && frames.some(isMove)) swapNext.add(account);
          if (frames.length && state.mode === 're-encrypt') {
            for (const f of frames) {
              try { f.set(reseal(args[0] as string, account, f)); } catch { /* not ours to read: pass it on */ }
            }
          }
          if (ack) up.emit(event, ...args, (...res: unknown[]) => ack(...res));
          else up.emit(event, ...args);
        });
        s.on('disconnect', () => { upstreams.delete(up); up.close(); });
        up.on('disconnect', () => s.disconnect(true));
      };
      next();
    });
  });
  io.on('connection', (socket) => socket.data.attach(socket));

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const addr = http.address() as AddressInfo;
  (state as { url: string }).url = `http://127.0.0.1:${addr.port}`;
  return state;
}
