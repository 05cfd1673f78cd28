/**
 * Bundled by test/browser-peer.test.ts only (never served): the shared engine pieces run
 * in the page with WebCrypto, for the test to compare with what Node computes.
 */
import { CONTROL_STREAM, FrameType } from '../shared/frame-layout.js';
import { deriveKeys, fingerprintOf, verifyHello } from '../shared/key-exchange.js';
import { helloMessage, transcriptInput, type TranscriptInput } from '../shared/key-schedule.js';
import { webFrameCipher, webSuite } from './web-crypto.js';
import { channelCheck } from '../test/helpers/channel-check.js';

interface Case { sid: string; identity: string; signature: string; ephemeralPeer: string; lowOrderIdentity: string; transcript: Record<string, string>; keys: { sendKey: string; receiveKey: string }; plaintext: string }

const hex = (s: string) => Buffer.from(s, 'hex');

(globalThis as Record<string, unknown>).sealdropSelfTest = async (c: Case) => {
  const t = Object.fromEntries(Object.entries(c.transcript).map(([k, v]) => [k, k.endsWith('Id') || k === 'sid' ? v : hex(v)])) as unknown as TranscriptInput;
  const hello = helloMessage({ sid: c.sid, role: 'sender', from: t.senderId, to: t.receiverId, ephemeralKey: t.senderEphemeral });
  const cipher = webFrameCipher({ sendKey: hex(c.keys.sendKey), receiveKey: hex(c.keys.sendKey) }, hex(c.sid));
  const frame = await cipher.seal({ type: FrameType.Control, stream: CONTROL_STREAM, index: 0, last: true }, Buffer.from(c.plaintext));
  const reopened = await cipher.open(frame, { type: FrameType.Control, stream: CONTROL_STREAM, index: 0 });
  const tampered = Buffer.from(frame); tampered[tampered.length - 1]! ^= 1;
  const refused = await Promise.resolve().then(() => cipher.open(tampered, { type: FrameType.Control, stream: CONTROL_STREAM, index: 0 })).then(() => 'opened', (e: { code?: string }) => e.code);
  const misplaced = await Promise.resolve().then(() => cipher.open(frame, { type: FrameType.Control, stream: CONTROL_STREAM, index: 1 })).then(() => 'opened', (e: { code?: string }) => e.code);
  return {
    fingerprint: await fingerprintOf(webSuite, hex(c.identity)),
    transcript: Buffer.from(await webSuite.sha256(transcriptInput(t))).toString('hex'),
    signatureValid: await verifyHello(webSuite, hex(c.identity), hello, hex(c.signature)),
    lowOrderRefused: !await verifyHello(webSuite, hex(c.lowOrderIdentity), hello, Buffer.alloc(64)),
    lowOrderX25519: await deriveKeys(webSuite, async () => new Uint8Array(32), Buffer.alloc(32), Buffer.alloc(1)).then(() => 'derived', (e: { code?: string }) => e.code),
    frame: frame.toString('hex'),
    reopened: reopened.plaintext.toString(),
    refused, misplaced,
    channel: await channelCheck(webFrameCipher),
  };
};
