/**
 * Node-to-node messages in a cluster (cluster mode): every node listens on its own Redis
 * channel `sealdrop:node:ID` and publishes to the channel of the node it speaks to. One
 * publishing connection per node keeps a node's messages to another in order (a signal
 * never overtakes the answer that opened its session; relay frames stay in order).
 *
 * Relay frames wait for their receiver's ack, which comes back as an `ack` message: the
 * table of acks awaited is here, bounded by the senders' relay windows (relay.ts), and
 * an ack is taken only from the node it was expected from.
 */
import { randomBytes } from 'node:crypto';
import { errorReply } from '../sessions/acks.js';
import type { Logger } from '../log.js';
import { decodeNodeMessage, encodeNodeMessage, type NodeMessage, type Received } from './node-messages.js';
import { KEY_PREFIX, type RedisLink } from './redis-link.js';

export const nodeChannel = (node: string) => `${KEY_PREFIX}node:${node}`;

interface AwaitedAck { node: string; onAnswer: (res: unknown) => void }

export class NodeBus {
  readonly nodeId = randomBytes(8).toString('hex');
  private readonly channel = nodeChannel(this.nodeId);
  private readonly acks = new Map<number, AwaitedAck>();
  private nextAck = 0;
  private stopListening: (() => void) | undefined;
  /** Malformed messages seen (logged once per STRAY_LOG_EVERY). */
  stray = 0;

  constructor(private readonly link: RedisLink, private readonly logger: Logger) {}

  /** Starts taking messages for this node; `handler` gets each well-formed one. */
  listen(handler: (received: Received) => void): void {
    const sub = this.link.subscriber!;
    const onMessage = (channel: Buffer, message: Buffer) => {
      if (channel.toString() !== this.channel) return;
      const received = decodeNodeMessage(message);
      if (typeof received === 'string') return this.strayMessage(received);
      if (received.msg.t === 'ack') return this.acked(received.node, received.msg.ack, received.msg.res);
      try {
        handler(received);
      } catch (err) {
        this.logger.error('node.handler-failed', { name: received.msg.t, error: (err as Error).message });
      }
    };
    sub.on('messageBuffer', onMessage);
    sub.subscribe(this.channel).catch((err: Error) => this.logger.error('redis.subscribe-failed', { error: err.message }));
    this.stopListening = () => {
      sub.off('messageBuffer', onMessage);
      sub.unsubscribe(this.channel).catch(() => undefined);
    };
  }

  /** Sends one message to `node`; resolves once Redis took it (rejects when Redis is away). */
  async send(node: string, msg: NodeMessage, payload?: Buffer): Promise<void> {
    await this.link.publisher!.publish(nodeChannel(node), encodeNodeMessage(this.nodeId, msg, payload));
  }

  /** Sends and only logs a failure (for messages whose loss the other side's timers make up for). */
  tell(node: string, msg: NodeMessage, payload?: Buffer): void {
    this.send(node, msg, payload).catch((err: Error) => this.logger.warn('node.send-failed', { node, name: msg.t, error: err.message }));
  }

  /**
   * Sends relay bytes to `node` and calls `onAnswer` once with the ack that comes back
   * (or an error, if Redis does not take them). Returns what stops waiting.
   */
  relay(node: string, sid: string, bytes: Buffer, batch: boolean, onAnswer: (res: unknown) => void): () => void {
    const ack = this.nextAck++;
    this.acks.set(ack, { node, onAnswer });
    this.send(node, { t: 'relay', sid, ack, batch }, bytes).catch(() => {
      this.acked(node, ack, errorReply('ERR_PEER_GONE', 'the rendezvous cannot reach the other peer\'s node now'));
    });
    return () => { this.acks.delete(ack); };
  }

  /** Acks awaited now (for tests and stats). */
  get awaitedAcks(): number {
    return this.acks.size;
  }

  /** Fails every ack awaited from `node` (it went away). */
  forgetNode(node: string): void {
    for (const [id, awaited] of this.acks) if (awaited.node === node) this.acked(node, id, errorReply('ERR_PEER_GONE', 'the other peer\'s rendezvous node went away'));
  }

  /** Stops listening; resolves once what was published before has reached Redis. */
  async close(): Promise<void> {
    this.stopListening?.();
    this.stopListening = undefined;
    await this.link.publisher!.ping().catch(() => undefined);
  }

  private acked(node: string, id: number, res: unknown): void {
    const awaited = this.acks.get(id);
    if (!awaited || awaited.node !== node) return;
    this.acks.delete(id);
    awaited.onAnswer(res);
  }

  private strayMessage(why: string): void {
    if (this.stray++ % STRAY_LOG_EVERY === 0) this.logger.warn('node.message-bad', { error: `a node message was not taken: ${why}`, seen: this.stray });
  }
}

const STRAY_LOG_EVERY = 100;
