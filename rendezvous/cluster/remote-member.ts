/**
 * The member of a session that is connected to another node (cluster mode), as the
 * session table and the relay see it: it has an account, and what is "emitted" to it
 * becomes a node message to its node (node-bus.ts), which hands it to the real socket.
 * Only what sessions.ts and relay.ts send to a member is carried; the rest is dropped.
 */
import type { NodeBus } from './node-bus.js';
import type { PeerSocket, SocketData } from '../types.js';

export class RemoteMember {
  /** Unique among sockets and remote members (the session table counts sessions by this). */
  readonly id: string;
  readonly data: SocketData;
  connected = true;

  constructor(private readonly bus: NodeBus, readonly node: string, readonly sid: string, account: string, receiving: boolean) {
    this.id = `${node}/${sid}`;
    // relayBatch: batches go to the other node whole; it splits them for a peer that takes frames only.
    this.data = { id: account, receiving, relayBatch: true };
  }

  /** As socket.emit, for the events a session member is sent. */
  emit(event: string, ...args: unknown[]): boolean {
    const ev = args[0] as Record<string, any>;
    if (event === 'signal') this.bus.tell(this.node, { t: 'signal', sid: this.sid, data: ev.data });
    else if (event === 'session:closed') this.bus.tell(this.node, { t: 'closed', sid: this.sid, reason: String(ev.reason).slice(0, 200) });
    else if (event === 'relay:refused') this.bus.tell(this.node, { t: 'refused', sid: this.sid, code: ev.code, message: String(ev.message).slice(0, 500) });
    return true;
  }

  /** Relay bytes for this member; `onAnswer` gets its ack. Returns what stops waiting. */
  relay(bytes: Buffer, batch: boolean, onAnswer: (res: unknown) => void): () => void {
    return this.bus.relay(this.node, this.sid, bytes, batch, onAnswer);
  }

  /** Seen as a socket by the session table and the relay. */
  asSocket(): PeerSocket {
    return this as unknown as PeerSocket;
  }
}

export function remoteOf(member: PeerSocket): RemoteMember | undefined {
  return (member as unknown) instanceof RemoteMember ? member as unknown as RemoteMember : undefined;
}
