/** The typed Socket.IO server and socket of the rendezvous, built on the shared event maps. */
import type { Server, Socket } from 'socket.io';
import type { ClientToServer, ServerToClient } from '../shared/schemas.js';

/** What the server knows about an authenticated connection. */
export interface SocketData {
  /** The account the socket authenticated as: every event it sends speaks for this ID only. */
  id: string;
  /** Connected as a receiver (`receiving: true` in the handshake): can be offered sessions. */
  receiving: boolean;
  /** Logged in with `relayBatch: true`: takes relay frames in batches (`relay:frames`). */
  relayBatch?: boolean;
  /** Frames a batch from or to this peer may hold: 16 if it asked for large batches at login, else 4. */
  batchFrames?: number;
}

type NoEvents = Record<string, never>;
export type RendezvousServer = Server<ClientToServer, ServerToClient, NoEvents, SocketData>;
export type PeerSocket = Socket<ClientToServer, ServerToClient, NoEvents, SocketData>;
