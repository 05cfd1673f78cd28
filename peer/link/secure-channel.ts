/**
 * SecureChannel: sealed frames over any Transport. It numbers what it sends and
 * checks that what arrives is exactly the next expected frame, so reordering,
 * duplication, drops and truncation all surface as errors here.
 *
 * The same class runs in the CLI and in the page: it seals and opens through a
 * FrameCipher, which answers at once on Node and with a promise in WebCrypto; with
 * the latter, frames are still opened and delivered strictly in arrival order.
 */
import { CHUNK_SIZE, FRAME_HEADER_SIZE, GCM_TAG_SIZE, MAX_CONTROL_SIZE, MAX_FRAME_SIZE, PEER_STALL_MS } from '../../shared/constants.js';
import { SealdropError, toSealdropError } from '../../shared/errors.js';
import { CONTROL_STREAM, DATA_STREAM, FrameType, MOVE_STREAM, decodeHeader, type FrameCipher, type FrameHeader, type OpenedFrame } from '../../shared/frame-layout.js';
import { MoveMessage, type ControlInput, type ControlMessage } from './control-messages.js';
import { ControlReassembly, InboundQueue, MAX_QUEUED, type Inbound } from './inbound.js';
import { MoveStream } from './move-stream.js';
import { OrderedOpening, type Counted } from './ordered-opening.js';
import { ResendBuffer, type HeldFrame, type Position } from './resend-buffer.js';
import type { Transport, TransportKind } from './transport.js';

export type { Inbound } from './inbound.js';
/** Header and tag: a frame's length less its plaintext. */
const FRAME_OVERHEAD = FRAME_HEADER_SIZE + GCM_TAG_SIZE;

export interface ChannelKeys { sendKey: Buffer; receiveKey: Buffer }

export interface WaitOptions {
  /** How long the peer may stay silent (default PEER_STALL_MS); then the channel fails with ERR_TIMEOUT. */
  timeoutMs?: number;
  /** Gives up the wait without failing the channel: the next message stays for the next caller. */
  signal?: AbortSignal;
}

/**
 * What the channel asks of the one who moves it between paths (path-mover.ts): the
 * current path ended or failed a send; or a frame of the move stream arrived on it.
 */
export interface PathEvents {
  lost(t: Transport, err?: SealdropError): void;
  moveFrame(frame: Buffer, t: Transport): void;
}

export class SecureChannel {
  private current: Transport;
  /** Bumped at every attach: frames and closes of a path left behind are ignored. */
  private generation = 0;
  /** Kept for a path move; undefined when this channel never moves. */
  private readonly held?: ResendBuffer;
  private pathEvents?: PathEvents;
  /** Sends wait while a move is agreed; it rejects if the move fails. */
  private moving?: Promise<void>;
  private readonly moves: MoveStream;
  /** Data chunks accepted so far: where the other side resends from after a move. */
  private dataReceived = 0;
  /** Data-stream plaintext bytes that went each way over each path (sent or received, never both). */
  readonly paths: Record<TransportKind, number> = { direct: 0, relay: 0 };
  /** When the current path last delivered a frame. */
  lastInbound = performance.now();
  private sendControlSeq = 0;
  private receiveControlSeq = 0;
  private readonly queue = new InboundQueue();
  private waiter?: { resolve: (m: Inbound) => void; reject: (e: SealdropError) => void };
  private failure?: SealdropError;
  /** Index of the next data chunk, or undefined when no data is expected. */
  private dataNext?: number;
  private endWaiters: Array<() => void> = [];
  private readonly control = new ControlReassembly();
  /** Where chunks are sealed when the transport copies frames (see sendChunk). */
  private chunkFrame?: Buffer;
  /** Inbound frames in arrival order, also while an asynchronous cipher opens one. */
  private readonly order = new OrderedOpening<Transport>({
    open: (frame, via, counted) => this.acceptNow(frame, via, counted),
    // Frames waiting to be opened count as held too: a peer that ignores flow control is stopped here as well.
    tooMuch: (waiting) => waiting + this.queue.bytes > MAX_QUEUED,
    overflow: () => {
      this.fail(new SealdropError('ERR_PROTOCOL', 'the peer sent past the flow-control window'));
      this.current.close();
    },
  });

  /** `resend`: keep what is sent for a path move (PROTOCOL.md "Path moves"). */
  constructor(transport: Transport, private readonly cipher: FrameCipher, o: { resend?: boolean } = {}) {
    this.current = transport;
    this.moves = new MoveStream(cipher);
    if (o.resend) this.held = new ResendBuffer();
    this.listen(transport);
  }

  /** The path the channel sends and receives on now. */
  get transport(): Transport {
    return this.current;
  }

  private listen(t: Transport): void {
    const generation = ++this.generation;
    t.onFrame((frame) => { if (generation === this.generation) this.accept(frame, t); });
    t.onClose((err) => { if (generation === this.generation) this.lost(t, err); });
  }

  /** The current path ended: with a mover it may go on elsewhere; without one the channel fails. */
  private lost(t: Transport, err?: SealdropError): void {
    if (t !== this.current || this.failure) return;
    if (this.pathEvents) return this.pathEvents.lost(t, err);
    this.fail(err ?? new SealdropError('ERR_PEER_GONE', 'the other peer closed the connection before the transfer finished'));
  }

  /** Hands path losses and move frames to a mover (path-mover.ts). */
  movesWith(events: PathEvents): void {
    this.pathEvents = events;
  }

  /**
   * Stops listening to the current path (its later frames are ignored) and holds every send
   * until `settle`: the positions this side has read are final from here on.
   */
  detach(): { position: Position; settle: (err?: SealdropError) => void } {
    this.generation++;
    let settle: (err?: SealdropError) => void = () => {};
    const moving = new Promise<void>((resolve, reject) => {
      settle = (err) => {
        if (this.moving === moving) this.moving = undefined;
        if (err) { this.fail(err); reject(err); } else resolve();
      };
    });
    moving.catch(() => {});
    this.moving ??= moving;
    // With an asynchronous cipher, frames that arrived before this and are still being opened count as read.
    const unopened = this.order.unopened;
    return { position: { data: this.dataReceived + unopened.data, control: this.receiveControlSeq + unopened.control }, settle };
  }

  /** Makes `t` the path: its frames are read from now on (a move frame first). */
  attach(t: Transport): void {
    this.current = t;
    this.lastInbound = performance.now();
    this.listen(t);
  }

  /** Seals a move-stream message; the mover sends it on the path it names. */
  sealMove(msg: MoveMessage): Buffer | Promise<Buffer> {
    return this.moves.seal(msg);
  }

  /** Opens a move-stream frame, which must be the next one expected (move-stream.ts). */
  openMove(frame: Buffer): MoveMessage | Promise<MoveMessage> {
    return this.moves.open(frame);
  }

  /**
   * Sends again, on the current path, every held frame the other side has not read
   * (`from` is where it said it goes on), then lets the held sends go.
   */
  async resend(from: Position): Promise<number> {
    if (!this.held) throw new SealdropError('ERR_INTERNAL', 'this channel keeps nothing to resend');
    const again: HeldFrame[] = this.held.from(from);
    const to = this.current.kind;
    for (const h of again) {
      if (h.released) continue; // credited while this resend ran: the other side has it
      if (h.data) {
        const bytes = h.frame.length - FRAME_OVERHEAD;
        this.paths[h.via] -= bytes;
        this.paths[to] += bytes;
        h.via = to;
      }
      await this.current.send(h.frame);
    }
    return again.length;
  }

  /** The other side credited every chunk below `chunks` (flow control): no need to keep them. */
  acknowledged(chunks: number): void {
    this.held?.releaseData(chunks);
  }

  /** Bytes of data sent and not yet credited, when this channel keeps them (a full window means the peer went quiet). */
  get unacknowledged(): number {
    return this.held?.heldDataBytes ?? 0;
  }

  /** Whether a reader is waiting for the data stream right now. */
  get awaitingData(): boolean {
    return this.waiter !== undefined && this.dataNext !== undefined;
  }

  get failed(): SealdropError | undefined {
    return this.failure;
  }

  /** A control message is JSON split over as many control frames as it needs; LAST marks its end. */
  async sendControl(msg: ControlInput): Promise<void> {
    await this.sendControlBytes(Buffer.from(JSON.stringify(msg), 'utf8'));
  }

  /** The bytes of one control message, sealed as they are (tests use it to play a peer that lies). */
  async sendControlBytes(plaintext: Buffer): Promise<void> {
    if (plaintext.length > MAX_CONTROL_SIZE) throw new SealdropError('ERR_BAD_INPUT', `a control message of ${plaintext.length} bytes exceeds ${MAX_CONTROL_SIZE} (too many files in one transfer?)`);
    for (let off = 0; off === 0 || off < plaintext.length; off += CHUNK_SIZE) {
      const piece = plaintext.subarray(off, off + CHUNK_SIZE);
      const last = off + CHUNK_SIZE >= plaintext.length;
      const index = this.sendControlSeq++;
      // A cipher that answers at once adds no tick here: path moves are sensitive to when a frame is handed over.
      const sealed = this.cipher.seal({ type: FrameType.Control, stream: CONTROL_STREAM, index, last }, piece);
      await this.send(sealed instanceof Promise ? await sealed : sealed, false, index);
    }
  }

  /**
   * One chunk of the data stream: all files back to back, so frames show no file
   * boundary. Chunks go one at a time (the caller awaits each), so when the
   * transport copies what it sends, every chunk is sealed into the same buffer.
   */
  async sendChunk(index: number, last: boolean, data: Buffer): Promise<void> {
    // A held chunk keeps its own buffer until credited (resend-buffer.ts); otherwise one buffer serves every chunk.
    const copies = this.current.copiesOnSend;
    const into = !copies ? undefined : this.held ? this.held.chunkBuffer() : (this.chunkFrame ??= Buffer.allocUnsafe(MAX_FRAME_SIZE));
    const header: FrameHeader = { type: FrameType.Chunk, stream: DATA_STREAM, index, last };
    const sealed = this.cipher.seal(header, data, into);
    await this.send(sealed instanceof Promise ? await sealed : sealed, true, index);
  }

  /**
   * Once the channel failed, every send reports that first cause, not the closed transport it led to.
   * With moves, a frame is kept before it goes, and a send the path fails is the path lost: the
   * move sends it again, so this send is done once the move is.
   */
  private async send(frame: Buffer, data: boolean, index: number): Promise<void> {
    while (this.moving) await this.moving;
    if (this.failure) throw this.failure;
    const t = this.current;
    this.held?.keep({ data, index, frame, via: t.kind });
    if (data) this.paths[t.kind] += frame.length - FRAME_OVERHEAD;
    try {
      await t.send(frame);
    } catch (err) {
      if (!this.held || !this.pathEvents || this.failure) throw this.failure ?? err;
      this.lost(t, toSealdropError(err));
      while (this.moving) await this.moving;
      if (this.failure) throw this.failure;
    }
  }

  /**
   * The first exchange on every channel: says which path this side uses and whether its
   * person will confirm the code, and resolves with the other side's word once it matches
   * ours. A different path means someone changed the agreed transport: ERR_PROTOCOL.
   */
  async agree(verify: boolean, timeoutMs = PEER_STALL_MS, agreed: TransportKind = this.current.kind): Promise<{ verify: boolean }> {
    await this.sendControl({ t: 'path', transport: agreed, verify });
    return this.agreed(timeoutMs, agreed);
  }

  /**
   * Reads the other side's first message, which must be its `path`, naming the path its
   * frames take to us (`agreed`: the path the session began on, which a path move may have left
   * by the time the message arrives). It runs before anyone else reads the channel (establishLink).
   */
  async agreed(timeoutMs = PEER_STALL_MS, agreed: TransportKind = this.current.kind): Promise<{ verify: boolean }> {
    const msg = await this.nextControl({ timeoutMs });
    if (msg.t !== 'path') throw new SealdropError('ERR_PROTOCOL', `the other peer began with ${msg.t}, not with the path it uses`);
    if (msg.transport !== agreed) {
      throw new SealdropError('ERR_PROTOCOL',
        `the other peer says it uses the ${msg.transport} path, but its frames arrive here over the ${agreed} path: someone (the rendezvous?) changed the agreed transport; stopped`,
        { peerMessage: `the two sides do not use the same path (someone changed the agreed transport); stopped` });
    }
    return { verify: msg.verify };
  }

  /** From now on, accept the data stream from chunk 0 up to its LAST chunk. */
  expectData(): void {
    this.dataNext = 0;
  }

  /** The next inbound message; rejects once the channel failed, or with ERR_TIMEOUT when the peer stays silent. */
  next(o: WaitOptions = {}): Promise<Inbound> {
    const item = this.queue.shift();
    if (item) return Promise.resolve(item);
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiter) return Promise.reject(new SealdropError('ERR_INTERNAL', 'two readers on one secure channel'));
    const timeoutMs = o.timeoutMs ?? PEER_STALL_MS;
    return new Promise((resolve, reject) => {
      // A peer that goes silent (stopped, hostile, or a network that drops everything) must not hold us.
      const timer = setTimeout(() => {
        this.fail(new SealdropError('ERR_TIMEOUT', `the other peer sent nothing for ${Math.round(timeoutMs / 1000)} s`));
        this.current.close();
      }, timeoutMs);
      const cancel = () => {
        if (this.waiter !== waiter) return;
        this.waiter = undefined;
        clearTimeout(timer);
        reject(new SealdropError('ERR_TIMEOUT', 'stopped waiting'));
      };
      const waiter = {
        resolve: (m: Inbound) => { clearTimeout(timer); o.signal?.removeEventListener('abort', cancel); resolve(m); },
        reject: (e: SealdropError) => { clearTimeout(timer); o.signal?.removeEventListener('abort', cancel); reject(e); },
      };
      this.waiter = waiter;
      if (o.signal?.aborted) cancel();
      else o.signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  /** The next control message; an abort from the peer becomes its error. */
  async nextControl(o: WaitOptions = {}): Promise<ControlMessage> {
    const item = await this.next(o);
    if (item.kind !== 'control') throw new SealdropError('ERR_PROTOCOL', 'file data arrived where a control message was expected');
    if (item.msg.t === 'abort') throw new SealdropError(item.msg.code, `the other peer stopped: ${item.msg.message}`);
    return item.msg;
  }

  /** Resolves once the other side has closed (or after timeoutMs): lets our last frame arrive first. */
  ended(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.endWaiters.push(() => { clearTimeout(timer); resolve(); });
      if (this.failure) this.endWaiters.splice(0).forEach((w) => w());
    });
  }

  /** Ends the channel on our side; later arrivals are ignored. */
  close(): void {
    this.fail(new SealdropError('ERR_PEER_GONE', 'channel closed'));
    this.current.close();
  }

  private accept(frame: Buffer, from: Transport): void {
    if (this.failure) return;
    this.lastInbound = performance.now();
    this.order.accept(frame, from);
  }

  /** Opens and delivers one frame; a promise (that never rejects) while an asynchronous cipher works. */
  private acceptNow(frame: Buffer, from: Transport, inflight: Counted): Promise<void> | undefined {
    let counted = inflight;
    const uncounted = () => { this.order.uncount(counted); counted = undefined; };
    if (this.failure) { uncounted(); return undefined; }
    const failed = (err: unknown) => {
      this.fail(toSealdropError(err, 'ERR_PROTOCOL'));
      this.current.close();
    };
    const took = (item: Inbound | undefined) => {
      if (item?.kind === 'chunk') {
        this.dataReceived++;
        this.paths[from.kind] += item.data.length;
      }
      if (item) this.deliver(item);
    };
    try {
      const header = decodeHeader(frame);
      if (header.type === FrameType.Control && header.stream === MOVE_STREAM && this.pathEvents) { uncounted(); return void this.pathEvents.moveFrame(frame, from); }
      const item = this.open(frame, header);
      if (!(item instanceof Promise)) { uncounted(); return void took(item); }
      counted ??= this.order.count(frame);
      return item.then((it) => { uncounted(); if (!this.failure) took(it); }, (err) => { uncounted(); throw err; }).catch(failed);
    } catch (err) {
      uncounted();
      failed(err);
      return undefined;
    }
  }

  private open(frame: Buffer, header: FrameHeader): Inbound | undefined | Promise<Inbound | undefined> {
    if (header.type === FrameType.Control) {
      const opened = this.cipher.open(frame, { type: FrameType.Control, stream: CONTROL_STREAM, index: this.receiveControlSeq });
      return opened instanceof Promise ? opened.then((o) => this.takeControl(o)) : this.takeControl(opened);
    }
    if (this.dataNext === undefined) throw new SealdropError('ERR_INTEGRITY', 'a chunk arrived when none was expected (duplicated or injected in transit)');
    const index = this.dataNext;
    const opened = this.cipher.open(frame, { type: FrameType.Chunk, stream: DATA_STREAM, index });
    return opened instanceof Promise ? opened.then((o) => this.takeChunk(index, o)) : this.takeChunk(index, opened);
  }

  private takeChunk(index: number, { plaintext, last }: OpenedFrame): Inbound {
    const item: Inbound = { kind: 'chunk', index, last, data: plaintext };
    this.dataNext = last ? undefined : index + 1;
    return item;
  }

  private takeControl({ plaintext, last }: OpenedFrame): Inbound | undefined {
    this.receiveControlSeq++;
    return this.control.take(plaintext, last);
  }

  private deliver(item: Inbound): void {
    if (this.waiter) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve(item);
      return;
    }
    this.queue.push(item);
  }

  private fail(err: SealdropError): void {
    if (this.failure) return;
    this.failure = err;
    for (const w of this.endWaiters.splice(0)) w();
    if (this.waiter) {
      const { reject } = this.waiter;
      this.waiter = undefined;
      reject(err);
    }
  }
}

