/**
 * A rendezvous that swaps keys is detected. Real spawned CLIs, a real spawned
 * rendezvous, and between them test/helpers/mitm-rendezvous.ts: a malicious
 * rendezvous that forwards everything but rewrites the `hello` signals.
 */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FrameType } from '../shared/framing.js';
import { totpCode } from '../shared/totp.js';
import { errorOf, listTree, randomFile, type Run, sha256File, tempDir } from './helpers/cli.js';
import { startMitmRendezvous, type MitmRendezvous } from './helpers/mitm-rendezvous.js';
import { startWorld, type World } from './helpers/world.js';

describe('trust: a key-swapping rendezvous', function () {
  this.timeout(60_000);
  let world: World;
  let mitm: MitmRendezvous;
  let work: string;
  let file: string;
  let fileSha: string;
  const fingerprints: Record<string, string> = {};
  /** Accounts that already hold a session token for the MITM's URL. */
  const loggedInViaMitm = new Set<string>();

  before(async () => {
    world = await startWorld(['alice', 'bob', 'carol', 'dave']);
    mitm = await startMitmRendezvous(world.url);
    work = await tempDir();
    file = path.join(work, 'quarterly-report.pdf');
    fileSha = await randomFile(file, 300 * 1024);
    await Promise.all(['alice', 'bob', 'carol', 'dave'].map(async (id) => {
      const run = world.peer(id, ['fingerprint']);
      expect(await run.exit).to.equal(0);
      fingerprints[id] = run.events[0]!.fingerprint;
    }));
  });
  after(async () => {
    await mitm?.close();
    await world?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });
  beforeEach(() => mitm.reset());

  /**
   * `--server MITM`. The login's token is bound to the real URL, so the first connection
   * through the MITM takes a TOTP code; the next step's code, as login spent this one's.
   */
  function throughMitm(id: string): string[] {
    if (loggedInViaMitm.has(id)) return ['--server', mitm.url];
    loggedInViaMitm.add(id);
    return ['--server', mitm.url, '--code', totpCode(world.secrets[id]!, Date.now() + 30_000)];
  }

  interface Attempt { sender: Run; receiver: Run; sent: number; got: number; inbox: string }

  async function attempt(from: string, to: string, o: { viaMitm: boolean; senderArgs?: string[]; receiverArgs?: string[]; sendArgs?: string[] }): Promise<Attempt> {
    const inbox = await tempDir();
    const receiver = world.peer(to, [...(o.viaMitm ? throughMitm(to) : []), ...(o.receiverArgs ?? []), 'receive', '--dir', inbox, '--yes', '--once']);
    await receiver.waitFor('ready');
    const sender = world.peer(from, [...(o.viaMitm ? throughMitm(from) : []), ...(o.senderArgs ?? []), 'send', file, '--to', to, ...(o.sendArgs ?? [])]);
    const [sent, got] = await Promise.all([sender.exit, receiver.exit]);
    return { sender, receiver, sent, got, inbox };
  }

  const pinsOf = async (id: string) => {
    const text = await fs.readFile(path.join(world.homes[id]!, 'known_peers.json'), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : JSON.parse(text).peers as Record<string, string>;
  };

  describe('a pinned pair', () => {
    it('pins the real keys on a first transfer through the honest rendezvous', async () => {
      const a = await attempt('alice', 'bob', { viaMitm: false });
      expect(a.sent, a.sender.stderr()).to.equal(0);
      expect(a.got, a.receiver.stderr()).to.equal(0);
      expect(await pinsOf('alice')).to.deep.equal({ bob: fingerprints.bob });
      expect(await pinsOf('bob')).to.deep.equal({ alice: fingerprints.alice });
    });

    it('refuses swapped keys with ERR_KEY_CHANGED before any file byte is sent', async () => {
      mitm.mode = 'swap-keys';
      // --relay: then every byte between the peers would cross the MITM, so it can count them.
      const a = await attempt('alice', 'bob', { viaMitm: true, sendArgs: ['--relay'] });
      expect(mitm.tampered, 'both hellos rewritten').to.equal(2);

      expect(a.sent).to.equal(5);
      const sendErr = errorOf(a.sender)!;
      expect(sendErr.code).to.equal('ERR_KEY_CHANGED');
      // The message shows the old and new fingerprints and how to re-trust.
      expect(sendErr.message).to.include(fingerprints.bob).and.include(mitm.fingerprint)
        .and.include(`sealdrop trust bob ${mitm.fingerprint}`);
      expect(a.got).to.equal(5);
      const recvErr = errorOf(a.receiver)!;
      expect(recvErr.code).to.equal('ERR_KEY_CHANGED');
      expect(recvErr.message).to.include(fingerprints.alice).and.include(mitm.fingerprint);

      // Refused before the channel existed: no keys agreed, no frame relayed, nothing on disk.
      for (const run of [a.sender, a.receiver]) {
        expect(run.events.map((e) => e.type)).to.not.include.members(['secured', 'offer', 'progress', 'done']);
      }
      expect(mitm.relayFrames().frames).to.equal(0);
      expect(await listTree(a.inbox)).to.deep.equal([]);
      // And the pins still hold the real keys.
      expect(await pinsOf('alice')).to.deep.equal({ bob: fingerprints.bob });
      expect(await pinsOf('bob')).to.deep.equal({ alice: fingerprints.alice });
    });

    it('refuses a hello whose signature was altered', async () => {
      mitm.mode = 'tamper-signature';
      const a = await attempt('alice', 'bob', { viaMitm: true });
      expect(mitm.tampered).to.equal(2);
      // The opener finds the accepter's signature bad; the accepter finds the opener's reveal no
      // longer matches its commitment (checked before the signature).
      for (const [run, why] of [[a.sender, /bad signature/], [a.receiver, /differ from the ones it committed to/]] as const) {
        const err = errorOf(run)!;
        expect(err.code, run.stderr()).to.equal('ERR_PROTOCOL');
        expect(err.message).to.match(why).and.match(/tampering/);
        expect(run.events.map((e) => e.type)).to.not.include('secured');
      }
      expect(a.sent).to.equal(5);
      expect(a.got).to.equal(5);
      expect(await listTree(a.inbox)).to.deep.equal([]);
    });

    it('refuses a swapped ephemeral key under the real identity: the signature no longer matches', async () => {
      mitm.mode = 'swap-ephemeral';
      const a = await attempt('alice', 'bob', { viaMitm: true });
      expect(mitm.tampered).to.equal(2);
      for (const [run, why] of [[a.sender, /bad signature/], [a.receiver, /differ from the ones it committed to/]] as const) {
        expect(errorOf(run)!.code, run.stderr()).to.equal('ERR_PROTOCOL');
        expect(errorOf(run)!.message).to.match(why);
      }
      expect(await listTree(a.inbox)).to.deep.equal([]);
    });

    it('carries an honest relay transfer without seeing a name, hash or byte of content', async () => {
      mitm.mode = 'honest';
      const a = await attempt('alice', 'bob', { viaMitm: true, sendArgs: ['--relay'] });
      expect(a.sent, a.sender.stderr()).to.equal(0);
      expect(a.got, a.receiver.stderr()).to.equal(0);
      expect(a.sender.events.find((e) => e.type === 'done')!.transport).to.equal('relay');
      expect(await sha256File(path.join(a.inbox, 'quarterly-report.pdf'))).to.equal(fileSha);
      const { frames, bytes } = mitm.relayFrames();
      expect(frames).to.be.greaterThan(3);
      expect(bytes).to.be.greaterThan(300 * 1024);

      // Everything the rendezvous handled, as text and as raw bytes.
      const text = JSON.stringify(mitm.log, (_k, v) => (v?.type === 'Buffer' ? undefined : v));
      const blobs = mitm.log.flatMap((e) => e.args.filter((x): x is Buffer => Buffer.isBuffer(x)));
      expect(text).to.not.include('quarterly-report');
      expect(text).to.not.include(fileSha);
      const content = await fs.readFile(file);
      const name = Buffer.from('quarterly-report');
      const shaBytes = Buffer.from(fileSha, 'hex');
      for (const blob of blobs) {
        expect(blob.includes(name)).to.equal(false);
        expect(blob.includes(shaBytes)).to.equal(false);
        expect(blob.includes(Buffer.from(fileSha))).to.equal(false);
        for (let at = 0; at + 32 <= content.length; at += 50 * 1024) expect(blob.includes(content.subarray(at, at + 32))).to.equal(false);
      }
    });
  });

  describe('an unpinned pair', () => {
    it('with --strict (flag on the sender, config setting on the receiver) refuses with ERR_UNTRUSTED', async () => {
      mitm.mode = 'swap-keys';
      const config = path.join(world.homes.dave!, 'config.json');
      const saved = await fs.readFile(config, 'utf8');
      await fs.writeFile(config, JSON.stringify({ ...JSON.parse(saved), strict: true }));
      try {
        const a = await attempt('carol', 'dave', { viaMitm: true, senderArgs: ['--strict'] });
        for (const run of [a.sender, a.receiver]) {
          const err = errorOf(run)!;
          expect(err.code, run.stderr()).to.equal('ERR_UNTRUSTED');
          // It names the key it was shown (the MITM's), which will not match what the
          // other person reads out of band.
          expect(err.message).to.include(mitm.fingerprint).and.include('sealdrop trust');
          expect(run.events.map((e) => e.type)).to.not.include('secured');
        }
        expect(a.sent).to.equal(5);
        expect(a.got).to.equal(5);
        expect(await listTree(a.inbox)).to.deep.equal([]);
        expect(await pinsOf('carol'), 'strict pins nothing').to.equal(undefined);
        expect(await pinsOf('dave')).to.equal(undefined);
      } finally {
        await fs.writeFile(config, saved);
      }
    });

    it('refuses a low-order ephemeral key, validly signed, and pins nothing', async () => {
      mitm.mode = 'low-order';
      const a = await attempt('carol', 'dave', { viaMitm: true });
      expect(mitm.tampered).to.equal(2);
      for (const run of [a.sender, a.receiver]) {
        const err = errorOf(run)!;
        expect(err.code, run.stderr()).to.equal('ERR_PROTOCOL');
        expect(err.message).to.match(/low-order/);
        expect(run.events.map((e) => e.type)).to.not.include('secured');
      }
      expect(await listTree(a.inbox)).to.deep.equal([]);
      // The key check comes before trust on first use: a failed handshake never pins.
      expect(await pinsOf('carol')).to.equal(undefined);
      expect(await pinsOf('dave')).to.equal(undefined);
    });

    it('without --strict shows a different SAS on the two sides, and the transfer cannot complete', async () => {
      mitm.mode = 'swap-keys';
      const a = await attempt('carol', 'dave', { viaMitm: true });
      // Trust on first use accepts the MITM's key: each side agreed a key with the MITM.
      const carolSaw = a.sender.events.find((e) => e.type === 'secured')!;
      const daveSaw = a.receiver.events.find((e) => e.type === 'secured')!;
      expect(carolSaw.peerFingerprint).to.equal(mitm.fingerprint).and.not.equal(fingerprints.dave);
      expect(daveSaw.peerFingerprint).to.equal(mitm.fingerprint).and.not.equal(fingerprints.carol);
      // The SAS hashes the whole transcript (both identities, both ephemeral keys), which
      // differs on the two sides: two people comparing codes see the attack (a match by
      // chance is 1 in a million).
      expect(carolSaw.sas).to.match(/^\d{3} \d{3}$/);
      expect(daveSaw.sas).to.match(/^\d{3} \d{3}$/);
      expect(carolSaw.sas).to.not.equal(daveSaw.sas);

      // This MITM only swaps keys; it does not decrypt and re-encrypt. Carol's first frame
      // (the encrypted file list) is sealed under the carol↔MITM key, so dave cannot open it:
      // dave fails with ERR_DECRYPT before any consent or file data, and carol, who then only
      // sees dave leave (or his abort, sealed under the other key), fails too.
      expect(a.got).to.equal(5);
      expect(errorOf(a.receiver)!.code, a.receiver.stderr()).to.equal('ERR_DECRYPT');
      expect(errorOf(a.receiver)!.message).to.match(/verification codes/);
      expect(a.receiver.events.map((e) => e.type)).to.not.include.members(['offer', 'progress', 'done']);
      expect(a.sent).to.not.equal(0);
      expect(['ERR_DECRYPT', 'ERR_PEER_GONE']).to.include(errorOf(a.sender)!.code);
      expect(a.sender.events.map((e) => e.type)).to.not.include('done');
      expect(await listTree(a.inbox)).to.deep.equal([]);

      // Both pinned the MITM's key (the limit of trust on first use), so the next contact
      // without the MITM exposes it: the real keys are now refused as changed.
      expect(await pinsOf('carol')).to.deep.equal({ dave: mitm.fingerprint });
      mitm.mode = 'honest';
      const b = await attempt('carol', 'dave', { viaMitm: true });
      expect(errorOf(b.sender)!.code).to.equal('ERR_KEY_CHANGED');
      expect(errorOf(b.sender)!.message).to.include(mitm.fingerprint).and.include(fingerprints.dave);
      expect(errorOf(b.receiver)!.code).to.equal('ERR_KEY_CHANGED');
      expect(await listTree(b.inbox)).to.deep.equal([]);
    });

    it('a MITM that also re-encrypts completes the transfer and reads the file: only the SAS shows it', async () => {
      // A fresh first contact: the pair forgets its pins.
      for (const id of ['carol', 'dave']) await fs.rm(path.join(world.homes[id]!, 'known_peers.json'), { force: true });
      mitm.mode = 're-encrypt';
      // (--timeout 1 only shortens carol's wait for the direct path, which the MITM blocks.)
      const a = await attempt('carol', 'dave', { viaMitm: true, sendArgs: ['--timeout', '1'] });
      // It dropped the WebRTC signals, so carol fell back to the relay, which it controls.
      expect(a.sent, a.sender.stderr()).to.equal(0);
      expect(a.got, a.receiver.stderr()).to.equal(0);
      expect(a.sender.events.find((e) => e.type === 'done')!.transport).to.equal('relay');
      expect(await sha256File(path.join(a.inbox, 'quarterly-report.pdf'))).to.equal(fileSha);

      // Trust on first use without a check out of band cannot stop this. What shows it:
      // the codes differ, and neither side sees the other's real fingerprint.
      const carolSaw = a.sender.events.find((e) => e.type === 'secured')!;
      const daveSaw = a.receiver.events.find((e) => e.type === 'secured')!;
      expect(carolSaw.sas).to.not.equal(daveSaw.sas);
      expect(carolSaw.peerFingerprint).to.equal(mitm.fingerprint).and.not.equal(fingerprints.dave);
      expect(daveSaw.peerFingerprint).to.equal(mitm.fingerprint).and.not.equal(fingerprints.carol);

      // What the MITM read: the file list and every byte of the file.
      const fromCarol = mitm.read.filter((f) => f.from === 'carol');
      const controls = fromCarol.filter((f) => f.type === FrameType.Control).map((f) => JSON.parse(f.plaintext.toString('utf8')));
      expect(controls[0], 'version 2: the first sealed message names the path').to.deep.equal({ t: 'path', transport: 'relay', verify: false });
      const manifest = controls.find((m) => m.t === 'manifest');
      expect(manifest.files[0].name).to.equal('quarterly-report.pdf');
      const chunks = fromCarol.filter((f) => f.type === FrameType.Chunk && f.stream === 0).sort((x, y) => x.index - y.index);
      expect(Buffer.concat(chunks.map((c) => c.plaintext)).equals(await fs.readFile(file))).to.equal(true);
    });
  });
});
