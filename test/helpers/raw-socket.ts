/**
 * Raw WebSocket clients of the rendezvous, for what socket.io-client would never send:
 * Engine.IO/Socket.IO packets written by hand ("40…" CONNECT, "451-[…]" a binary event
 * followed by its attachments), and half-written frames over a plain TCP socket.
 */
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect, type Socket as TcpSocket } from 'node:net';
import WebSocket from 'ws';

export const EIO_PATH = '/socket.io/?EIO=4&transport=websocket';

export interface RawWs {
  ws: WebSocket;
  /** Resolves with the close code once the server closes (or the upgrade is refused: -1). */
  closed: Promise<number>;
  /** Engine.IO messages received, as text. */
  received: string[];
}

/** Opens a raw Engine.IO WebSocket, from `localAddress` (any 127.x address on loopback). */
export function rawWs(url: string, localAddress = '127.0.0.1'): Promise<RawWs> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + EIO_PATH, { localAddress });
  const received: string[] = [];
  let opened = false;
  const closed = new Promise<number>((resolve) => {
    ws.on('close', (code) => resolve(opened ? code : -1));
    ws.on('error', () => { if (!opened) resolve(-1); });
  });
  ws.on('message', (data, binary) => { if (!binary) received.push(data.toString()); });
  return new Promise((resolve) => {
    ws.once('open', () => { opened = true; resolve({ ws, closed, received }); });
    void closed.then(() => { if (!opened) resolve({ ws, closed, received }); });
  });
}

/** The HTTP upgrade by hand; resolves with the socket after `101`, or null when refused. */
export function rawUpgrade(port: number, localAddress: string): Promise<TcpSocket | null> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ port, host: '127.0.0.1', localAddress });
    let head = '';
    sock.on('error', () => resolve(null));
    sock.on('close', () => resolve(null));
    sock.once('connect', () => {
      sock.write(`GET ${EIO_PATH} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
        + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      sock.off('data', onData);
      resolve(head.startsWith('HTTP/1.1 101') ? sock : (sock.destroy(), null));
    };
    sock.on('data', onData);
  });
}

/** A masked client frame header for a payload of `length` bytes (the payload must follow, masked with a zero key). */
export function frameHeader(opcode: number, length: number, fin = true): Buffer {
  const first = (fin ? 0x80 : 0) | opcode;
  const mask = Buffer.alloc(4); // a zero mask: the payload goes as is
  if (length < 126) return Buffer.concat([Buffer.from([first, 0x80 | length]), mask]);
  if (length < 65536) {
    const b = Buffer.from([first, 0x80 | 126, 0, 0]);
    b.writeUInt16BE(length, 2);
    return Buffer.concat([b, mask]);
  }
  const b = Buffer.alloc(10);
  b[0] = first;
  b[1] = 0x80 | 127;
  b.writeBigUInt64BE(BigInt(length), 2);
  return Buffer.concat([b, mask]);
}

/** VmRSS of a process, in bytes. */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
