/**
 * DirectTransport: a WebRTC data channel through simple-peer and @roamhq/wrtc.
 * simple-peer does the signaling and ICE; frames go straight to its data channel
 * because simple-peer's write() caps its buffer at 64 KiB and polls every 150 ms,
 * which limits throughput to about a third of the channel. wrtc never fires
 * bufferedamountlow, so backpressure polls bufferedAmount.
 *
 * Every message is a frame piece (frame-pieces.ts) no larger than the negotiated
 * message size: some peers (aiortc, Safari) accept only 64 KiB, and libwebrtc
 * closes the channel on a larger message rather than refusing it.
 */
import wrtc from '@roamhq/wrtc';
import SimplePeer from 'simple-peer';
import { SealdropError } from '../../shared/errors.js';
import { EarlyFrames } from './early-frames.js';
import type { IceServer } from '../../shared/schemas.js';
import { FrameAssembler, FrameSplitter, messageLimit } from './frame-pieces.js';
import { trackTeardown } from './teardowns.js';
import type { Transport } from './transport.js';

/** Keep at most this much queued in the data channel before waiting. */
const HIGH_WATER = 1024 * 1024;
const POLL_MS = 1;
const CHECK_EVERY = 256 * 1024;

interface DataChannelLike { bufferedAmount: number; readyState: string; send(data: Buffer): void }
interface PeerConnectionLike {
  localDescription?: { sdp?: string } | null;
  remoteDescription?: { sdp?: string } | null;
  sctp?: { maxMessageSize?: number } | null;
}

export interface DirectOptions {
  initiator: boolean;
  iceServers: IceServer[];
  /** Sends a simple-peer signal object to the other peer (through the rendezvous). */
  signalOut: (data: Record<string, unknown>) => void;
  /** Test seam: rewrites this side's SDP before it is applied and sent (simple-peer's option), e.g. to advertise a smaller message size. */
  sdpTransform?: (sdp: string) => string;
}

export class DirectTransport implements Transport {
  readonly kind = 'direct' as const;
  /** wrtc copies every message into its own buffer inside channel.send. */
  readonly copiesOnSend = true;
  private readonly peer: SimplePeer.Instance;
  /**
   * Frames that arrive before the engine attached, held within a bound. What a held frame keeps
   * alive is the buffer it is a view of (a whole message, or a split frame's MAX_FRAME_SIZE).
   */
  private readonly early = new EarlyFrames((err) => { this.finish(err); this.peer.destroy(); }, (frame) => frame.buffer.byteLength);
  private closeHandler: (err?: SealdropError) => void = () => {};
  private closed = false;
  private unchecked = 0;
  private readonly assembler = new FrameAssembler();
  private splitter?: FrameSplitter;
  private readonly sendMessage = (message: Buffer) => this.sendOne(message);
  readonly connected: Promise<void>;

  constructor(opts: DirectOptions) {
    this.peer = new SimplePeer({
      initiator: opts.initiator,
      wrtc,
      trickle: true,
      // ICE servers come only from the rendezvous configuration; never simple-peer's public defaults.
      config: { iceServers: opts.iceServers },
      channelConfig: { ordered: true },
      ...(opts.sdpTransform ? { sdpTransform: opts.sdpTransform } : {}),
    });
    trackTeardown(new Promise<void>((resolve) => this.peer.once('close', () => setTimeout(resolve, 50))));
    this.peer.on('signal', (data) => opts.signalOut(data as unknown as Record<string, unknown>));
    this.peer.on('data', (data: Buffer) => this.acceptPiece(data));
    this.connected = new Promise((resolve, reject) => {
      this.peer.once('connect', () => resolve());
      this.peer.once('error', (err) => reject(new SealdropError('ERR_NO_DIRECT', `direct connection failed: ${err.message}`)));
    });
    this.connected.catch(() => {});
    this.peer.on('error', (err) => this.finish(new SealdropError('ERR_PEER_GONE', `direct connection lost: ${err.message}`)));
    this.peer.on('close', () => this.finish(this.assembler.partial
      ? new SealdropError('ERR_PEER_GONE', 'the direct connection to the other peer closed in the middle of a frame')
      : undefined));
  }

  /** Bytes that have left the data channel's queue so far (a synchronous hop into wrtc: read it now and then, not per frame). */
  get drained(): number {
    return this.handed - (this.channel?.bufferedAmount ?? 0);
  }
  /** Bytes handed to the data channel so far, and whether some still wait in it. */
  private handed = 0;
  get waiting(): boolean {
    return (this.channel?.bufferedAmount ?? 0) > 0;
  }

  /** Whether the data channel is open now. */
  get open(): boolean {
    return !this.closed && this.channel?.readyState === 'open';
  }

  /** Whether it was given an offer (an accepter answers a later offer with a new connection). */
  get offered(): boolean {
    return this.offers > 0;
  }
  private offers = 0;

  /** Whether it has ended (closed, failed or destroyed). */
  get ended(): boolean {
    return this.closed;
  }

  /** The largest data-channel message this side sends, known once connected. */
  get maxMessageSize(): number | undefined {
    return this.splitter?.limit;
  }

  /** Feeds a signal object from the other peer. */
  signal(data: Record<string, unknown>): void {
    if (this.closed) return;
    if (data.type === 'offer') this.offers++;
    try {
      this.peer.signal(data as unknown as SimplePeer.SignalData);
    } catch (err) {
      this.finish(new SealdropError('ERR_PROTOCOL', `bad signaling data from peer: ${(err as Error).message}`));
    }
  }

  private get channel(): DataChannelLike | null {
    return (this.peer as unknown as { _channel: DataChannelLike | null })._channel;
  }

  /** The negotiated limit: read once, after both descriptions are in place. */
  private splitterNow(): FrameSplitter {
    if (this.splitter) return this.splitter;
    const pc = (this.peer as unknown as { _pc: PeerConnectionLike | null })._pc;
    this.splitter = new FrameSplitter(messageLimit(pc?.localDescription?.sdp, pc?.remoteDescription?.sdp, pc?.sctp?.maxMessageSize));
    return this.splitter;
  }

  private gone(): SealdropError {
    return new SealdropError('ERR_PEER_GONE', 'the direct connection to the other peer closed');
  }

  /** channel.send throws "readyState is not 'open'" once the channel is gone: that is the peer gone, not a bug. */
  private sendOne(message: Buffer): void {
    const channel = this.channel;
    if (this.closed || !channel || channel.readyState !== 'open') throw this.gone();
    try {
      channel.send(message);
    } catch {
      throw this.gone();
    }
  }

  async send(frame: Buffer): Promise<void> {
    const channel = this.channel;
    if (this.closed || !channel) throw this.gone();
    // Reading bufferedAmount is a synchronous hop into wrtc's network thread, as costly as a send:
    // check it only after every CHECK_EVERY bytes sent, against a high-water mark that leaves room.
    if (this.unchecked >= CHECK_EVERY) {
      this.unchecked = 0;
      while (channel.bufferedAmount > HIGH_WATER) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        if (this.closed) throw this.gone();
      }
    }
    // Every piece is copied by wrtc inside send, so the frame is free when this resolves (copiesOnSend).
    const bytes = this.splitterNow().split(frame, this.sendMessage);
    this.unchecked += bytes;
    this.handed += bytes;
  }

  /** One message from the peer: a piece of a frame. A bad piece ends the transport. */
  private acceptPiece(message: Buffer): void {
    if (this.closed) return;
    let frame: Buffer | undefined;
    try {
      frame = this.assembler.push(message);
    } catch (err) {
      this.finish(err as SealdropError);
      this.peer.destroy();
      return;
    }
    if (frame) this.early.take(frame);
  }

  onFrame(handler: (frame: Buffer) => void): void {
    this.early.attach(handler);
  }
  onClose(handler: (err?: SealdropError) => void): void { this.closeHandler = handler; }

  /** Closes once everything queued has left, so the last frames are not cut off. */
  close(): void {
    if (this.closed) return;
    const channel = this.channel;
    const deadline = Date.now() + 5_000;
    const drain = () => {
      if (channel && channel.readyState === 'open' && channel.bufferedAmount > 0 && Date.now() < deadline) {
        setTimeout(drain, 10);
        return;
      }
      this.finish();
      this.peer.destroy();
    };
    drain();
  }

  private finish(err?: SealdropError): void {
    if (this.closed) return;
    this.closed = true;
    this.closeHandler(err);
  }
}
