/**
 * Who is online: account ID → its connected sockets, oldest first. An account is
 * "receiving" while any of its sockets connected with `receiving: true`; session
 * requests go to the newest such socket.
 */
import { z } from 'zod';
import { type PeerInfo, PeersRequest } from '../shared/schemas.js';
import type { Logger } from './log.js';
import type { PeerSocket } from './types.js';
import { handle } from './validate.js';

export class Presence {
  private readonly online = new Map<string, PeerSocket[]>();

  constructor(private readonly logger: Logger) {}

  add(socket: PeerSocket): void {
    const list = this.online.get(socket.data.id) ?? [];
    list.push(socket);
    this.online.set(socket.data.id, list);
  }

  remove(socket: PeerSocket): void {
    const list = this.online.get(socket.data.id)?.filter((s) => s !== socket) ?? [];
    if (list.length > 0) this.online.set(socket.data.id, list);
    else this.online.delete(socket.data.id);
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
    const before = this.socketsOf(socket.data.id).filter((s) => s.data.receiving);
    if (before.length === 0) return next();
    if ((socket.handshake.auth as { replace?: unknown }).replace !== true) {
      const err = new Error(`${socket.data.id} is already receiving on another connection: stop that \`sealdrop receive\`, or pass --replace to take over from it`) as Error & { data: unknown };
      err.data = { code: 'ERR_EXISTS' };
      return next(err);
    }
    for (const old of before) {
      this.logger.info('receive.replaced', { id: socket.data.id, socket: old.id });
      old.emit('receiving:replaced');
      old.disconnect(true);
    }
    next();
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

  /** Answers `peers` on this socket. */
  attach(socket: PeerSocket): void {
    handle(socket, 'peers', z.tuple([PeersRequest]), (_args, reply) => {
      reply({ ok: true, peers: this.list(socket.data.id) });
    }, this.logger);
  }
}
