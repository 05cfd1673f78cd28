/**
 * A child process of load.ts holding many idle, authenticated peers: each logs in
 * to the rendezvous with a fresh TOTP code for its own account (a code is spent
 * once per account and step, so distinct accounts never collide), then sits idle
 * answering Socket.IO pings until told to exit.
 */
import { io, type Socket } from 'socket.io-client';
import { totpCode } from '../shared/totp.js';

interface Start { t: 'start'; url: string; accounts: Array<[id: string, secret: string]>; concurrency: number }
type Msg = Start | { t: 'exit' };

const sockets: Socket[] = [];

function login(url: string, id: string, secret: string): Promise<number> {
  const t0 = performance.now();
  const socket = io(url, {
    transports: ['websocket'], reconnection: false, forceNew: true, timeout: 120_000,
    auth: { id, code: totpCode(secret, Date.now()) },
  });
  sockets.push(socket);
  return new Promise((resolve, reject) => {
    socket.once('welcome', () => resolve(performance.now() - t0));
    socket.once('connect_error', (err) => reject(new Error(`${id}: ${err.message}`)));
  });
}

async function start(m: Start): Promise<void> {
  const times: number[] = [];
  const errors: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < m.accounts.length) {
      const [id, secret] = m.accounts[next++]!;
      try { times.push(await login(m.url, id, secret)); } catch (err) { errors.push((err as Error).message); }
    }
  };
  await Promise.all(Array.from({ length: m.concurrency }, worker));
  process.send!({ t: 'connected', ok: times.length, failed: errors.length, errors: errors.slice(0, 3), times });
}

process.on('message', (m: Msg) => {
  if (m.t === 'start') void start(m);
  else {
    for (const s of sockets) s.close();
    process.exit(0);
  }
});
