/**
 * One side of the raw direct ceiling, a child process of ceiling-direct.ts: a
 * data channel that simple-peer only sets up (signals go through the parent's IPC);
 * data then goes straight to the channel with polled backpressure, since wrtc never
 * fires bufferedamountlow. No framing, crypto or disk.
 *
 * `node ceiling-direct-peer.js ROLE [ENGINE]`: the engine is @roamhq/wrtc (libwebrtc,
 * what sealdrop uses) or node-datachannel (libdatachannel, through its W3C polyfill),
 * to measure the two side by side. libdatachannel gathers no loopback candidates,
 * so it needs an address on another interface (bench/netns.ts adds a veth).
 */
import wrtcEngine from '@roamhq/wrtc';
import { randomBytes } from 'node:crypto';
import SimplePeer from 'simple-peer';
import type { DirectEngine } from './ceiling-direct.js';

const engine = (process.argv[3] ?? 'wrtc') as DirectEngine;
const wrtc = engine === 'node-datachannel' ? await datachannelEngine() : wrtcEngine;

/**
 * node-datachannel's polyfill for simple-peer. Its RTCSessionDescription has a read-only
 * `sdp`, which simple-peer assigns to (sdpTransform): offers and answers become plain objects.
 */
async function datachannelEngine(): Promise<object> {
  const polyfill = (await import('node-datachannel/polyfill')).default as unknown as { RTCPeerConnection: new (c?: object) => RTCLike };
  interface RTCLike {
    createOffer(o?: object): Promise<{ type: string; sdp: string }>; createAnswer(o?: object): Promise<{ type: string; sdp: string }>;
    setRemoteDescription(d: object): Promise<void>; addIceCandidate(c?: object): Promise<void>;
  }
  /**
   * A candidate that arrives before the remote description is in place fails in libdatachannel
   * ("Got a remote candidate without ICE transport"): simple-peer can hand one over while
   * setRemoteDescription is still on its way. Candidates wait for the first remote description.
   */
  class PeerConnection extends polyfill.RTCPeerConnection {
    private remoteSet!: Promise<void>;
    private remoteReady!: () => void;
    constructor(c?: object) {
      super(c);
      this.remoteSet = new Promise((resolve) => { this.remoteReady = resolve; });
    }
    override async createOffer(o?: object) { const d = await super.createOffer(o); return { type: d.type, sdp: d.sdp }; }
    override async createAnswer(o?: object) { const d = await super.createAnswer(o); return { type: d.type, sdp: d.sdp }; }
    override async setRemoteDescription(d: object) { await super.setRemoteDescription(d); this.remoteReady(); }
    override async addIceCandidate(c?: object) { await this.remoteSet; return super.addIceCandidate(c); }
  }
  return { ...polyfill, RTCPeerConnection: PeerConnection };
}

/** Read bufferedAmount (a synchronous hop into wrtc's network thread) once per this many bytes sent. */
const CHECK_EVERY = 256 * 1024;
/** Wait while more than this is queued in the channel. */
const HIGH_WATER = 4 * 1024 * 1024;
const POLL_MS = 1;

type Msg =
  | { t: 'start' }
  | { t: 'signal'; data: SimplePeer.SignalData }
  | { t: 'expect'; bytes: number }
  | { t: 'send'; bytes: number; size: number }
  | { t: 'exit' };

interface Channel { bufferedAmount: number; send(data: Buffer): void }

const send = (m: object) => process.send!(m);
let peer: SimplePeer.Instance;
let channel: Channel;
let expected = 0;
let received = 0;

/** Created only once the parent knows both sides listen, so no signal is lost. */
function start(): void {
  const startedAt = performance.now();
  peer = new SimplePeer({ initiator: process.argv[2] === 'sender', wrtc: wrtc as SimplePeer.Options['wrtc'], trickle: true, config: { iceServers: [] }, channelConfig: { ordered: true } });
  const internals = peer as unknown as { _channel: Channel; _pc: { sctp?: { maxMessageSize?: number } } };
  peer.on('signal', (data) => send({ t: 'signal', data }));
  peer.on('connect', () => {
    channel = internals._channel;
    send({ t: 'connected', maxMessageSize: internals._pc.sctp?.maxMessageSize ?? 0, setupMs: performance.now() - startedAt });
  });
  peer.on('error', (err) => { process.stderr.write(`direct ceiling peer (${engine}): ${err.message}\n`); process.exit(1); });
  // libwebrtc closes a channel whose send queue passes 16 MiB: that must fail loudly, not hang.
  peer.on('close', () => process.exit(1));
  peer.on('data', (data: Buffer) => {
    received += data.length;
    if (expected > 0 && received >= expected) {
      expected = 0;
      send({ t: 'received' });
    }
  });
}

async function sendAll(bytes: number, size: number): Promise<void> {
  const message = randomBytes(size);
  let unchecked = 0;
  for (let sent = 0; sent < bytes;) {
    if (unchecked >= CHECK_EVERY) {
      unchecked = 0;
      while (channel.bufferedAmount > HIGH_WATER) await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const n = Math.min(size, bytes - sent);
    channel.send(n === size ? message : message.subarray(0, n));
    sent += n;
    unchecked += n;
  }
  send({ t: 'sent' });
}

process.on('message', (m: Msg) => {
  if (m.t === 'start') start();
  else if (m.t === 'signal') peer.signal(m.data);
  else if (m.t === 'expect') { received = 0; expected = m.bytes; send({ t: 'armed' }); }
  else if (m.t === 'send') void sendAll(m.bytes, m.size);
  else if (m.t === 'exit') { peer.destroy(); process.exit(0); }
});
send({ t: 'up' });
