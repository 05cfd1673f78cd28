/**
 * One process of the raw relay ceiling (ceiling-relay.ts): `server`, `sender` or
 * `receiver`. Plain Socket.IO over websocket, binary messages: the server forwards
 * each frame to the receiver and acks the sender once the receiver acked, and the
 * sender keeps at most a window of bytes unacked. No auth, schemas, crypto or disk.
 */
import { MAX_SOCKET_MESSAGE } from '../shared/constants.js';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket as ServerSocket } from 'socket.io';
import { io } from 'socket.io-client';

type Msg = { t: 'expect'; bytes: number } | { t: 'send'; bytes: number; size: number; window: number; paceMbps?: number } | { t: 'exit' };
const send = (m: object) => process.send!(m);
const role = process.argv[2];

if (role === 'server') {
  const http = createServer();
  const server = new Server(http, { transports: ['websocket'], maxHttpBufferSize: MAX_SOCKET_MESSAGE, serveClient: false });
  let receiver: ServerSocket | undefined;
  server.on('connection', (socket) => {
    if (socket.handshake.auth.role === 'receiver') receiver = socket;
    socket.on('frame', (frame: Buffer, ack: () => void) => {
      receiver!.emit('frame', frame, () => ack());
    });
  });
  http.listen(0, '127.0.0.1', () => send({ t: 'listening', url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` }));
  process.on('message', (m: Msg) => { if (m.t === 'exit') process.exit(0); });
} else {
  const socket = io(process.argv[3]!, { transports: ['websocket'], auth: { role }, reconnection: false, forceNew: true });
  socket.on('connect', () => send({ t: 'ready' }));
  socket.on('connect_error', (err) => { process.stderr.write(`relay ceiling ${role}: ${err.message}\n`); process.exit(1); });
  let expected = 0;
  let received = 0;
  socket.on('frame', (frame: Buffer, ack: () => void) => {
    received += frame.length;
    ack();
    if (expected > 0 && received >= expected) { expected = 0; send({ t: 'received' }); }
  });

  const sendAll = async (bytes: number, size: number, window: number, paceMbps?: number) => {
    const frame = randomBytes(size);
    const t0 = performance.now();
    let inFlight = 0;
    let wake: (() => void) | undefined;
    for (let sent = 0; sent < bytes;) {
      const n = Math.min(size, bytes - sent);
      while (inFlight + n > window) await new Promise<void>((r) => { wake = r; });
      // Paced: no further ahead than paceMbps allows (to compare CPU per MB at another relay's rate).
      const due = paceMbps ? t0 + (sent / (paceMbps * 1e6)) * 1000 : 0;
      if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
      inFlight += n;
      socket.emit('frame', n === size ? frame : frame.subarray(0, n), () => { inFlight -= n; wake?.(); });
      sent += n;
    }
  };

  process.on('message', (m: Msg) => {
    if (m.t === 'expect') { received = 0; expected = m.bytes; send({ t: 'armed' }); }
    else if (m.t === 'send') void sendAll(m.bytes, m.size, m.window, m.paceMbps);
    else if (m.t === 'exit') { socket.close(); process.exit(0); }
  });
}
