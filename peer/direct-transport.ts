/**
 * DirectTransport: a WebRTC data channel through simple-peer and @roamhq/wrtc.
 * simple-peer does the signaling and ICE; frames go straight to its data channel
 * because simple-peer's write() caps its buffer at 64 KiB and polls every 150 ms,
 * which limits throughput to about a third of the channel. wrtc never fires
 * bufferedamountlow, so backpressure polls bufferedAmount.
 */
import wrtc from '@roamhq/wrtc';
import SimplePeer from 'simple-peer';
import { MAX_EARLY_BYTES } from '../shared/constants.js';
import { SealdropError } from '../shared/errors.js';
import type { IceServer } from '../shared/schemas.js';
import { trackTeardown } from './teardowns.js';
import type { Transport } from './transport.js';

/** Keep at most this much queued in the data channel before waiting. */
const HIGH_WATER = 1024 * 1024;
const POLL_MS = 1;
const CHECK_EVERY = 256 * 1024;

interface DataChannelLike { bufferedAmount: number; readyState: string; send(data: Buffer): void }

export interface DirectOptions {
  initiator: boolean;
  iceServers: IceServer[];
  /** Sends a simple-peer signal object to the other peer (through the rendezvous). */
  signalOut: (data: Record<string, unknown>) => void;
}

export class DirectTransport implements Transport {
  readonly kind = 'direct' as const;
  /** wrtc copies every message into its own buffer inside channel.send. */
  readonly copiesOnSend = true;
  private readonly peer: SimplePeer.Instance;
  /** Frames that arrive before the engine attached are held, never dropped. */
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private frameHandler: (frame: Buffer) => void = (frame) => this.holdEarly(frame);
  private closeHandler: (err?: SealdropError) => void = () => {};
  private closed = false;
  private unchecked = 0;
  readonly connected: Promise<void>;

  constructor(opts: DirectOptions) {
    this.peer = new SimplePeer({
      initiator: opts.initiator,
      wrtc,
      trickle: true,
      // ICE servers come only from the rendezvous configuration; never simple-peer's public defaults.
      config: { iceServers: opts.iceServers },
      channelConfig: { ordered: true },
    });
    trackTeardown(new Promise<void>((resolve) => this.peer.once('close', () => setTimeout(resolve, 50))));
    this.peer.on('signal', (data) => opts.signalOut(data as unknown as Record<string, unknown>));
    this.peer.on('data', (data: Buffer) => this.frameHandler(data));
    this.connected = new Promise((resolve, reject) => {
      this.peer.once('connect', () => resolve());
      this.peer.once('error', (err) => reject(new SealdropError('ERR_NO_DIRECT', `direct connection failed: ${err.message}`)));
    });
    this.connected.catch(() => {});
    this.peer.on('error', (err) => this.finish(new SealdropError('ERR_PEER_GONE', `direct connection lost: ${err.message}`)));
    this.peer.on('close', () => this.finish());
  }

  /** Feeds a signal object from the other peer. */
  signal(data: Record<string, unknown>): void {
    if (this.closed) return;
    try {
      this.peer.signal(data as unknown as SimplePeer.SignalData);
    } catch (err) {
      this.finish(new SealdropError('ERR_PROTOCOL', `bad signaling data from peer: ${(err as Error).message}`));
    }
  }

  private get channel(): DataChannelLike {
    return (this.peer as unknown as { _channel: DataChannelLike })._channel;
  }

  async send(frame: Buffer): Promise<void> {
    if (this.closed) throw new SealdropError('ERR_PEER_GONE', 'the direct connection closed');
    const channel = this.channel;
    // Reading bufferedAmount is a synchronous hop into wrtc's network thread, as costly as a send:
    // check it only after every CHECK_EVERY bytes sent, against a high-water mark that leaves room.
    if (this.unchecked >= CHECK_EVERY) {
      this.unchecked = 0;
      while (channel.bufferedAmount > HIGH_WATER) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        if (this.closed) throw new SealdropError('ERR_PEER_GONE', 'the direct connection closed');
      }
    }
    channel.send(frame);
    this.unchecked += frame.length;
  }

  /** Holds a frame until the engine attaches, within MAX_EARLY_BYTES: more is a flood, and ends the transport. */
  private holdEarly(frame: Buffer): void {
    if (this.closed) return;
    this.earlyBytes += frame.length;
    if (this.earlyBytes > MAX_EARLY_BYTES) {
      this.early = [];
      this.finish(new SealdropError('ERR_PROTOCOL', 'the other peer sent more before the transfer began than any honest peer would')); this.peer.destroy();
      return;
    }
    this.early.push(frame);
  }

  onFrame(handler: (frame: Buffer) => void): void {
    this.frameHandler = handler;
    for (const frame of this.early.splice(0)) handler(frame);
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
