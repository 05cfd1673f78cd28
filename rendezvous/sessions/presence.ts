/**
 * Who is online: account ID → its connected sockets, oldest first. An account is
 * "receiving" while any of its sockets connected with `receiving: true`; session
 * requests go to the newest such socket.
 *
 * In a cluster (joinCluster) this node's entries are also written to Redis
 * (cluster-presence.ts): `peers` lists the accounts of every live node, and "one
 * `receive` per account" holds across nodes (a --replace tells the other node).
 */
import { z } from 'zod';
import { type PeerInfo, PeersRequest } from '../../shared/schemas.js';
import type { Logger } from '../log.js';
import type { ClusterPresence } from '../cluster/cluster-presence.js';
import type { PeerSocket } from '../types.js';
import { handle } from '../admission/validate.js';

/** What presence needs of the cluster: where else an account is, and telling a node to drop its receiver. */
export interface PresenceCluster {
  presence: ClusterPresence;
  replaceAt(node: string, id: string): void;
}

export class Presence {
  private readonly online = new Map<string, PeerSocket[]>();
  /** When each receiving socket connected (the newest receiver of an account wins across nodes). */
  private readonly since = new WeakMap<PeerSocket, number>();
  private cluster: PresenceCluster | undefined;

  constructor(private readonly logger: Logger) {}

  joinCluster(cluster: PresenceCluster): void {
    this.cluster = cluster;
  }

  add(socket: PeerSocket): void {
    const list = this.online.get(socket.data.id) ?? [];
    list.push(socket);
    if (socket.data.receiving) this.since.set(socket, Date.now());
    this.online.set(socket.data.id, list);
    this.cluster?.presence.changed(socket.data.id);
  }

  remove(socket: PeerSocket): void {
    const list = this.online.get(socket.data.id)?.filter((s) => s !== socket) ?? [];
    if (list.length > 0) this.online.set(socket.data.id, list);
    else this.online.delete(socket.data.id);
    this.cluster?.presence.changed(socket.data.id);
  }

  /** When `id`'s newest receiving socket here connected, or undefined when it receives on none. */
  receivingSince(id: string): number | undefined {
    const receiver = this.receiverOf(id);
    return receiver && (this.since.get(receiver) ?? 0);
  }

  /** A receiving connection of `id` logged in at another node with --replace: this node's go. */
  replacedElsewhere(id: string): void {
    for (const old of this.socketsOf(id).filter((s) => s.data.receiving)) {
      this.logger.info('receive.replaced', { id, socket: old.id, elsewhere: true });
      old.emit('receiving:replaced');
      old.disconnect(true);
    }
  }

  socketsOf(id: string): readonly PeerSocket[] {
    return this.online.get(id) ?? [];
  }

  /** The socket a session request for `id` goes to: its newest receiving one. */
  receiverOf(id: string): PeerSocket | undefined {
    const sockets = this.socketsOf(id);
    for (let i = sockets.length - 1; i >= 0; i--) if (sockets[i].data.receiving) return sockets[i];
    return undefined;
  }

  /**
   * One `receive` per account: a second receiving connection is refused (ERR_EXISTS) unless its
   * handshake asks to `replace`; then the ones before it are told and disconnected. For `io.use`,
   * after authentication.
   */
  readonly admitReceiver = (socket: PeerSocket, next: (err?: Error) => void): void => {
    if (!socket.data.receiving) return next();
    const replace = (socket.handshake.auth as { replace?: unknown }).replace === true;
    const before = this.socketsOf(socket.data.id).filter((s) => s.data.receiving);
    if (before.length > 0 && !replace) return next(alreadyReceiving(socket.data.id));
    for (const old of before) {
      this.logger.info('receive.replaced', { id: socket.data.id, socket: old.id });
      old.emit('receiving:replaced');
      old.disconnect(true);
    }
    const cluster = this.cluster;
    if (!cluster) return next();
    // A receiver at another node: refused, or told to go. Redis away: the login could not have been checked either.
    cluster.presence.receiversOf(socket.data.id).then((nodes) => {
      if (nodes.length > 0 && !replace) return next(alreadyReceiving(socket.data.id));
      for (const node of nodes) cluster.replaceAt(node, socket.data.id);
      next();
    }, (err: Error & { peerMessage?: string }) => next(Object.assign(new Error(err.peerMessage ?? err.message), { data: { code: 'ERR_STORE' } })));
  };

  /** Connections, accounts and receiving accounts online now (for metrics). */
  counts(): { connections: number; accounts: number; receivers: number } {
    let connections = 0;
    let receivers = 0;
    for (const sockets of this.online.values()) {
      connections += sockets.length;
      if (sockets.some((s) => s.data.receiving)) receivers += 1;
    }
    return { connections, accounts: this.online.size, receivers };
  }

  /** Everyone online except `self`, sorted by ID. */
  list(self?: string): PeerInfo[] {
    return [...this.online]
      .filter(([id]) => id !== self)
      .map(([id, sockets]) => ({ id, receiving: sockets.some((s) => s.data.receiving) }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Everyone online at this node and (in a cluster) every other live node, except `self`, sorted by ID. */
  async listAll(self?: string): Promise<PeerInfo[]> {
    const here = this.list(self);
    if (!this.cluster) return here;
    let others;
    try {
      others = await this.cluster.presence.others();
    } catch (err) {
      this.logger.warn('presence.list-failed', { error: (err as Error).message });
      return here; // Redis away: what this node knows is still true
    }
    const all = new Map(here.map((p) => [p.id, p]));
    for (const p of others) {
      if (p.id === self) continue;
      const known = all.get(p.id);
      all.set(p.id, { id: p.id, receiving: p.receiving || (known?.receiving ?? false) });
    }
    return [...all.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Answers `peers` on this socket. */
  attach(socket: PeerSocket): void {
    handle(socket, 'peers', z.tuple([PeersRequest]), async (_args, reply) => {
      reply({ ok: true, peers: await this.listAll(socket.data.id) });
    }, this.logger);
  }
}

function alreadyReceiving(id: string): Error {
  const err = new Error(`${id} is already receiving on another connection: stop that \`sealdrop receive\`, or pass --replace to take over from it`) as Error & { data: unknown };
  err.data = { code: 'ERR_EXISTS' };
  return err;
}
