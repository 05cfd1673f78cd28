import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { io as ioClient } from 'socket.io-client';
import { totpCode } from '../shared/totp.js';
import { connect, next, refusal, runRendezvousCli as cli, startServe, tempDir } from './helpers/rendezvous.js';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('sealdrop-rendezvous CLI', () => {
  let root: string;
  let data: string;
  beforeEach(() => { root = tempDir('sealdrop-cli-'); data = join(root, 'data'); });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('enroll --json prints exactly {"id","secret","uri"} and stores the account privately', async () => {
    const r = await cli(['enroll', 'alice', '--data', data, '--json']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.split('\n')).to.have.length(2).and.to.have.property('1', '');
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).to.deep.equal(['id', 'secret', 'uri']);
    expect(out.id).to.equal('alice');
    expect(out.secret).to.match(/^[A-Z2-7]{32}$/);
    expect(out.uri).to.equal(`otpauth://totp/sealdrop:alice?secret=${out.secret}&period=30&digits=6&algorithm=SHA1&issuer=sealdrop`);
    expect(mode(join(data, 'accounts.json'))).to.equal(0o600);
    expect(mode(data)).to.equal(0o700);
    const stored = JSON.parse(readFileSync(join(data, 'accounts.json'), 'utf8'));
    expect(stored).to.deep.include({ version: 1 });
    expect(stored.accounts.alice.secret).to.equal(out.secret);
  });

  it('enroll prints the secret, the URI and a QR code', async () => {
    const r = await cli(['enroll', 'bob', '--data', data]);
    expect(r.code, r.stderr).to.equal(0);
    const secret = JSON.parse(readFileSync(join(data, 'accounts.json'), 'utf8')).accounts.bob.secret;
    expect(r.stdout).to.include(secret).and.include('otpauth://totp/sealdrop:bob').and.match(/[▀▄█]{10}/);
  });

  it('refuses to enroll an existing ID unless --force, and rejects bad IDs', async () => {
    const first = JSON.parse((await cli(['enroll', 'alice', '--data', data, '--json'])).stdout);
    const again = await cli(['enroll', 'alice', '--data', data, '--json']);
    expect(again.code).to.not.equal(0);
    expect(again.stdout).to.equal('');
    expect(again.stderr.trim().split('\n')).to.have.length(1);
    expect(again.stderr).to.match(/already exists/).and.match(/--force/);
    const forced = await cli(['enroll', 'alice', '--data', data, '--json', '--force']);
    expect(forced.code).to.equal(0);
    expect(JSON.parse(forced.stdout).secret).to.not.equal(first.secret);
    const bad = await cli(['enroll', 'Not/OK', '--data', data]);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.match(/invalid account ID/);
  });

  it('lists and revokes accounts, never showing secrets', async () => {
    const secrets = [];
    for (const id of ['carol', 'alice', 'bob']) secrets.push(JSON.parse((await cli(['enroll', id, '--data', data, '--json'])).stdout).secret);
    const listed = await cli(['list', '--data', data, '--json']);
    expect(JSON.parse(listed.stdout).map((a: { id: string }) => a.id)).to.deep.equal(['alice', 'bob', 'carol']);
    const human = await cli(['list', '--data', data]);
    expect(human.stdout).to.match(/^alice\t/m);
    for (const s of secrets) expect(listed.stdout + human.stdout).to.not.include(s);
    expect((await cli(['revoke', 'bob', '--data', data])).code).to.equal(0);
    expect(JSON.parse((await cli(['list', '--data', data, '--json'])).stdout).map((a: { id: string }) => a.id)).to.deep.equal(['alice', 'carol']);
    const missing = await cli(['revoke', 'bob', '--data', data]);
    expect(missing.code).to.not.equal(0);
    expect(missing.stderr).to.match(/no account "bob"/);
    expect(mode(join(data, 'accounts.json'))).to.equal(0o600);
  });

  it('fails clearly on a corrupt store and leaves it untouched', async () => {
    await cli(['enroll', 'alice', '--data', data, '--json']);
    const file = join(data, 'accounts.json');
    writeFileSync(file, '{"version":1,"accounts":{"alice":');
    for (const args of [['list'], ['enroll', 'bob'], ['revoke', 'alice'], ['serve', '--port', '0']]) {
      const r = await cli([...args, '--data', data]);
      expect(r.code, args.join(' ')).to.not.equal(0);
      expect(r.stderr.trim().split('\n').at(-1)).to.include(file).and.match(/not valid JSON/).and.match(/ERR_STORE/);
    }
    expect(readFileSync(file, 'utf8')).to.equal('{"version":1,"accounts":{"alice":');
    writeFileSync(file, JSON.stringify({ version: 2, accounts: {} }));
    expect((await cli(['list', '--data', data])).stderr).to.match(/corrupt/).and.include(file);
  });

  it('finds its data folder from SEALDROP_RENDEZVOUS_DATA, else XDG_DATA_HOME', async () => {
    const viaEnv = join(root, 'env');
    expect((await cli(['enroll', 'alice', '--json'], { SEALDROP_RENDEZVOUS_DATA: viaEnv })).code).to.equal(0);
    expect(existsSync(join(viaEnv, 'accounts.json'))).to.equal(true);
    const xdg = join(root, 'xdg');
    expect((await cli(['enroll', 'bob', '--json'], { XDG_DATA_HOME: xdg })).code).to.equal(0);
    expect(existsSync(join(xdg, 'sealdrop-rendezvous', 'accounts.json'))).to.equal(true);
  });

  it('serve prints one line, admits enrolled peers, sees enroll/revoke live, and exits 0 on SIGTERM', async () => {
    const alice = JSON.parse((await cli(['enroll', 'alice', '--data', data, '--json'])).stdout).secret;
    const { run, url } = await startServe(['--data', data]);
    try {
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      const a = await connect(url, { id: 'alice', code: totpCode(alice, Date.now()) });
      expect(a.welcome.iceServers).to.deep.equal([]);
      const bob = JSON.parse((await cli(['enroll', 'bob', '--data', data, '--json'])).stdout).secret;
      const b = await connect(url, { id: 'bob', code: totpCode(bob, Date.now()), receiving: true });
      expect((await a.socket.timeout(2000).emitWithAck('peers', {}))).to.deep.equal({ ok: true, peers: [{ id: 'bob', receiving: true }] });
      const dropped = next(b.socket, 'disconnect', 5000);
      expect((await cli(['revoke', 'bob', '--data', data])).code).to.equal(0);
      await dropped;
      expect((await refusal(url, { id: 'bob', token: b.welcome.token })).code).to.equal('ERR_AUTH');
      a.socket.close();
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exit).to.equal(0);
    expect(run.stdout()).to.equal(`listening on ${url}\n`);
    expect(run.stderr()).to.include('"event":"auth.ok"').and.not.include(alice);
  });

  it('serve exits 0 on SIGINT and passes --ice-servers to peers', async () => {
    const alice = JSON.parse((await cli(['enroll', 'alice', '--data', data, '--json'])).stdout).secret;
    const ice = [{ urls: ['turn:127.0.0.1:3478'], username: 'u', credential: 'p' }];
    const { run, url } = await startServe(['--data', data, '--ice-servers', JSON.stringify(ice)], { SEALDROP_LOG: 'silent' });
    const a = await connect(url, { id: 'alice', code: totpCode(alice, Date.now()) });
    expect(a.welcome.iceServers).to.deep.equal(ice);
    a.socket.close();
    run.child.kill('SIGINT');
    expect(await run.exit).to.equal(0);
    expect(run.stderr()).to.equal('');
  });

  it('serve refuses bad options with one clear line', async () => {
    for (const [args, pattern] of [
      [['--ice-servers', 'not json'], /--ice-servers is not valid JSON/],
      [['--ice-servers', '[{"url":"stun:x"}]'], /--ice-servers: 0\.urls: .*Unrecognized key.*'url'/],
      [['--tls-cert', join(root, 'cert.pem')], /--tls-cert and --tls-key go together/],
      [['--tls-cert', join(root, 'no.pem'), '--tls-key', join(root, 'no.pem')], /cannot read TLS certificate .*ENOENT/],
      [['--port', 'http'], /--port/],
    ] as Array<[string[], RegExp]>) {
      const r = await cli(['serve', '--data', data, ...args]);
      expect(r.code, args.join(' ')).to.not.equal(0);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr).to.match(pattern);
    }
  });

  it('serve --tls-cert/--tls-key serves https', async function () {
    const cert = join(root, 'cert.pem');
    const key = join(root, 'key.pem');
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    } catch {
      console.log('SKIP TLS test: openssl is not available to make a test certificate');
      this.skip();
    }
    const alice = JSON.parse((await cli(['enroll', 'alice', '--data', data, '--json'])).stdout).secret;
    const { run, url } = await startServe(['--data', data, '--tls-cert', cert, '--tls-key', key], { SEALDROP_LOG: 'silent' });
    try {
      expect(url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
      const socket = ioClient(url, { transports: ['websocket'], auth: { id: 'alice', code: totpCode(alice, Date.now()) }, ca: readFileSync(cert, 'utf8'), reconnection: false });
      const [welcome] = await next<{ id: string }>(socket, 'welcome', 5000);
      expect(welcome!.id).to.equal('alice');
      socket.close();
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exit).to.equal(0);
  });
});
