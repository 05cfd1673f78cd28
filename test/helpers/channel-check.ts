/**
 * One scenario for the shared SecureChannel, run with Node's cipher (in the test) and with
 * WebCrypto's (bundled into the page by web/self-test.ts): frames in order arrive whole, a
 * swapped pair fails the order check, an altered frame fails its tag; for a path move, frames
 * that arrived before a detach count in its position even while an asynchronous cipher still
 * opens them, and a move frame opens once (a copy, even one opened at the same time, is
 * refused). Both builds must give the same answers.
 */
import { SecureChannel } from '../../peer/link/secure-channel.js';
import type { Transport } from '../../peer/link/transport.js';
import type { FrameCipher } from '../../shared/frame-layout.js';

type Keys = { sendKey: Uint8Array; receiveKey: Uint8Array };
export type MakeCipher = (keys: Keys, transferId: Uint8Array) => FrameCipher;

/** A transport whose frames the scenario hands over itself (in order, swapped, or altered). */
class HeldTransport implements Transport {
  readonly kind = 'relay' as const;
  readonly copiesOnSend = true;
  readonly sent: Buffer[] = [];
  private handler: (f: Buffer) => void = () => {};
  async send(frame: Buffer): Promise<void> { this.sent.push(Buffer.from(frame)); }
  onFrame(h: (f: Buffer) => void): void { this.handler = h; }
  onClose(): void {}
  close(): void {}
  deliver(f: Buffer): void { this.handler(f); }
}

const errorCode = (p: Promise<unknown>) => p.then(() => 'none', (e: { code?: string }) => e.code ?? 'unknown');

export async function channelCheck(make: MakeCipher): Promise<Record<string, unknown>> {
  const a = new Uint8Array(32).fill(7), b = new Uint8Array(32).fill(8);
  const tid = new Uint8Array(16).fill(1);
  const pair = () => {
    const out = new HeldTransport(), into = new HeldTransport();
    return { out, into, sender: new SecureChannel(out, make({ sendKey: a, receiveKey: b }, tid)), receiver: new SecureChannel(into, make({ sendKey: b, receiveKey: a }, tid)) };
  };
  const big = Buffer.alloc(128 * 1024, 3);
  const send = async (s: SecureChannel) => {
    await s.sendControl({ t: 'path', transport: 'relay', verify: false });
    await s.sendChunk(0, false, big);
    await s.sendChunk(1, true, Buffer.from('tail'));
  };

  const ok = pair();
  await send(ok.sender);
  ok.receiver.expectData();
  for (const f of ok.out.sent) ok.into.deliver(f);
  const agreed = await ok.receiver.agreed(5_000, 'relay');
  const c0 = await ok.receiver.next(), c1 = await ok.receiver.next();
  const inOrder = c0.kind === 'chunk' && c1.kind === 'chunk' && c0.data.equals(big) && c1.data.toString() === 'tail' && c1.last;

  const swapped = pair();
  await send(swapped.sender);
  swapped.receiver.expectData();
  const [p, f0, f1] = swapped.out.sent;
  for (const f of [p!, f1!, f0!]) swapped.into.deliver(f);
  await swapped.receiver.agreed(5_000, 'relay');
  const reordered = await errorCode(swapped.receiver.next());

  const altered = pair();
  await send(altered.sender);
  const bad = Buffer.from(altered.out.sent[0]!);
  bad[20]! ^= 1;
  altered.into.deliver(bad);
  const tampered = await errorCode(altered.receiver.agreed(5_000, 'relay'));

  // A path move's position: taken at once after the frames arrived (WebCrypto still opening them).
  const moving = pair();
  await send(moving.sender);
  moving.receiver.expectData();
  for (const f of moving.out.sent) moving.into.deliver(f);
  const detached = moving.receiver.detach();
  detached.settle();
  await moving.receiver.agreed(5_000, 'relay');
  const m0 = await moving.receiver.next(), m1 = await moving.receiver.next();
  const keptAfterDetach = m0.kind === 'chunk' && m1.kind === 'chunk' && m1.last;
  const sealedMove = moving.sender.sealMove({ t: 'move', transport: 'direct', data: 0, control: 1 });
  const moveFrame = sealedMove instanceof Promise ? await sealedMove : sealedMove;
  const open = (f: Buffer) => Promise.resolve().then(() => moving.receiver.openMove(f));
  // Two copies opened at the same time, then one more later: only the first is the move.
  const [first, copy] = await Promise.all([open(moveFrame), errorCode(open(Buffer.from(moveFrame)))]);
  const replayed = await errorCode(open(moveFrame));

  return {
    agreed, inOrder, reordered, tampered, frames: ok.out.sent.map((f) => f.length),
    move: { position: detached.position, keptAfterDetach, opened: first, copy, replayed },
  };
}
