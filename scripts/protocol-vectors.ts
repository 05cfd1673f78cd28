/**
 * Prints the test vectors of docs/PROTOCOL.md Appendix B from the real code:
 * `node dist/scripts/protocol-vectors.js`. test/protocol-vectors.test.ts checks the
 * page holds exactly this text, so the page and the code cannot drift apart.
 */
import { createHash, createPublicKey, diffieHellman, hkdfSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import {
  deriveTransferKeys, ephemeralFromSeed, fingerprint, helloCommitment, helloMessage, identityFromSeed, signHello,
} from '../shared/crypto.js';
import { sealFrame, FrameType, CONTROL_STREAM, DATA_STREAM, MOVE_STREAM } from '../shared/framing.js';
import { putFrame } from '../shared/relay-batch.js';

const SID = '00112233445566778899aabbccddeeff';
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
/** Hex cut into lines of `width` bytes, indented. */
const wrap = (b: Uint8Array, indent: string, width = 46) =>
  (hex(b).match(new RegExp(`.{1,${width * 2}}`, 'g')) ?? ['']).map((l, i) => (i === 0 ? l : indent + l)).join('\n');
const lp = (v: string | Uint8Array) => {
  const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
};

export function protocolVectors(): string {
  const alice = identityFromSeed(Buffer.alloc(32, 1));
  const bob = identityFromSeed(Buffer.alloc(32, 2));
  const aliceEph = ephemeralFromSeed(Buffer.alloc(32, 3));
  const bobEph = ephemeralFromSeed(Buffer.alloc(32, 4));
  const hello = { sid: SID, role: 'sender' as const, from: 'alice', to: 'bob', ephemeralKey: aliceEph.publicKey };
  const msg = helloMessage(hello);
  const signature = signHello(alice.privateKey, hello);
  const commit = helloCommitment(SID, alice.publicKey, aliceEph.publicKey, signature);
  const t = {
    sid: SID, commitment: commit, senderId: 'alice', receiverId: 'bob',
    senderIdentity: alice.publicKey, receiverIdentity: bob.publicKey,
    senderEphemeral: aliceEph.publicKey, receiverEphemeral: bobEph.publicKey,
  };
  const keys = deriveTransferKeys(aliceEph, bobEph.publicKey, t);
  // The intermediate values, computed here as the page describes them (deriveTransferKeys keeps them to itself).
  const shared = diffieHellman({ privateKey: aliceEph.privateKey, publicKey: ephemeralPublicKeyObject(bobEph) });
  const transcript = createHash('sha256').update(Buffer.concat([
    lp('sealdrop/2 transcript'), lp(SID), lp(commit), lp('alice'), lp('bob'),
    lp(alice.publicKey), lp(bob.publicKey), lp(aliceEph.publicKey), lp(bobEph.publicKey),
  ])).digest();
  const okm = Buffer.from(hkdfSync('sha256', shared, transcript, 'sealdrop/2 keys', 68));
  if (!okm.subarray(0, 32).equals(keys.senderKey) || !okm.subarray(32, 64).equals(keys.receiverKey)) throw new Error('the page\'s derivation differs from the code\'s');
  const tid = Buffer.from(SID, 'hex');
  const control = (key: Buffer, index: number, json: string) =>
    sealFrame(key, tid, { type: FrameType.Control, stream: CONTROL_STREAM, index, last: true }, Buffer.from(json, 'utf8'));
  const frame = (f: Buffer) => `  ${hex(f.subarray(0, 1))} ${hex(f.subarray(1, 5))} ${hex(f.subarray(5, 13))} ${hex(f.subarray(13, 14))}\n`
    + `  | ${wrap(f.subarray(14, f.length - 16), '    ')}\n  | ${hex(f.subarray(f.length - 16))}`;
  const pathA = '{"t":"path","transport":"relay","verify":false}';
  const manifest = '{"t":"manifest","files":[{"name":"a.txt","size":5}],"dirs":[]}';
  const pathB = '{"t":"path","transport":"relay","verify":false}';
  const accept = '{"t":"accept","from":[0]}';
  const hashes = `{"t":"hashes","sha256":["${createHash('sha256').update('hello').digest('hex')}"]}`;
  const chunk = sealFrame(keys.senderKey, tid, { type: FrameType.Chunk, stream: DATA_STREAM, index: 0, last: true }, Buffer.from('hello'));
  const sasNumber = okm.readUInt32BE(64);
  const hashesFrame = control(keys.senderKey, 2, hashes);
  // A path move in the middle: alice has read bob's control frames 0 and 1; bob has read her frames 0, 1 and no chunk.
  const move = JSON.stringify({ t: 'move', transport: 'relay', data: 0, control: 2 });
  const moved = JSON.stringify({ t: 'moved', transport: 'relay', data: 0, control: 2 });
  const moveFrame = (key: Buffer, json: string) =>
    sealFrame(key, tid, { type: FrameType.Control, stream: MOVE_STREAM, index: 0, last: true }, Buffer.from(json, 'utf8'));
  const batch = Buffer.alloc(8 + chunk.length + hashesFrame.length);
  putFrame(batch, putFrame(batch, 0, chunk), hashesFrame);
  return [
    `alice identity pub   ${hex(alice.publicKey)}`,
    `bob   identity pub   ${hex(bob.publicKey)}`,
    `alice ephemeral pub  ${hex(aliceEph.publicKey)}`,
    `bob   ephemeral pub  ${hex(bobEph.publicKey)}`,
    `fingerprint alice    ${fingerprint(alice.publicKey)}`,
    `fingerprint bob      ${fingerprint(bob.publicKey)}`,
    '',
    `hello_msg (alice, role "sender", from "alice", to "bob"), ${msg.length} bytes:`,
    `  ${wrap(msg, '  ', 40)}`,
    `signature (base64)   ${signature.toString('base64')}`,
    `commit (alice)       ${hex(commit)}`,
    `commit signal        {"type":"commit","v":2,"commit":"${commit.toString('base64')}"}`,
    '',
    `shared               ${hex(shared)}`,
    `transcript           ${hex(transcript)}`,
    `okm                  ${wrap(okm, '                     ', 32)}`,
    `senderKey            ${hex(keys.senderKey)}`,
    `receiverKey          ${hex(keys.receiverKey)}`,
    `sas                  0x${okm.subarray(64, 68).toString('hex')} = ${sasNumber} → "${keys.sas}"`,
    '',
    `AAD prefix           ${hex(Buffer.from('sealdrop/1 frame'))} ‖ ${SID}  (then the 14-byte header)`,
    '',
    `control frame 0 from alice (senderKey): ${pathA} (${pathA.length} bytes), frame ${control(keys.senderKey, 0, pathA).length} bytes:`,
    frame(control(keys.senderKey, 0, pathA)),
    `control frame 0 from bob (receiverKey): ${pathB} (${pathB.length} bytes), frame ${control(keys.receiverKey, 0, pathB).length} bytes:`,
    frame(control(keys.receiverKey, 0, pathB)),
    `control frame 1 from alice (senderKey), the whole message in one frame, so LAST is set:`,
    `${manifest} (${manifest.length} bytes), frame ${control(keys.senderKey, 1, manifest).length} bytes:`,
    frame(control(keys.senderKey, 1, manifest)),
    `control frame 1 from bob (receiverKey): ${accept} (${accept.length} bytes), frame ${control(keys.receiverKey, 1, accept).length} bytes:`,
    frame(control(keys.receiverKey, 1, accept)),
    `data chunk 0 from alice (senderKey), stream 0, index 0, LAST: the whole data stream of this`,
    `one-file transfer, plaintext "hello", frame ${chunk.length} bytes:`,
    `  ${hex(chunk.subarray(0, 1))} ${hex(chunk.subarray(1, 5))} ${hex(chunk.subarray(5, 13))} ${hex(chunk.subarray(13, 14))} | ${hex(chunk.subarray(14, 19))} | ${hex(chunk.subarray(19))}`,
    `control frame 2 from alice (senderKey), after the data stream:`,
    `${hashes}`,
    `(${hashes.length} bytes), frame ${control(keys.senderKey, 2, hashes).length} bytes:`,
    frame(control(keys.senderKey, 2, hashes)),
    '',
    `relay batch (relay:frames) of data chunk 0 and control frame 2 above, ${batch.length} bytes:`,
    `  ${hex(batch.subarray(0, 4))} ‖ data chunk 0 ‖ ${hex(batch.subarray(4 + chunk.length, 8 + chunk.length))} ‖ control frame 2`,
    `  SHA-256 of the batch ${createHash('sha256').update(batch).digest('hex')}`,
    '',
    `move frame 0 from alice (senderKey), stream 0xfffffffe: ${move} (${move.length} bytes), frame ${moveFrame(keys.senderKey, move).length} bytes:`,
    frame(moveFrame(keys.senderKey, move)),
    `move frame 0 from bob (receiverKey): ${moved} (${moved.length} bytes), frame ${moveFrame(keys.receiverKey, moved).length} bytes:`,
    frame(moveFrame(keys.receiverKey, moved)),
  ].join('\n');
}

/** An X25519 public key as a KeyObject, from its raw bytes (JWK form). */
function ephemeralPublicKeyObject(k: { publicKey: Buffer }) {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: k.publicKey.toString('base64url') }, format: 'jwk' });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.stdout.write(protocolVectors() + '\n');
