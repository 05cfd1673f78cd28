/**
 * The command line as a person meets it: --version, help with examples and the
 * global options, usage errors that exit 2, and each error of docs/ERRORS.md with
 * its words, its next step and its exit status, through the real CLIs.
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ERROR_CODES } from '../shared/errors.js';
import { NEXT_STEPS } from '../peer/terminal/error-words.js';
import { pathWords } from '../peer/terminal/transfer-words.js';
import { PEER_CLI, RENDEZVOUS_CLI, ROOT, spawnCli, tempDir, type Run } from './helpers/cli.js';
import { enroll, startServer, startWorld, type World } from './helpers/world.js';

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

/** Runs the peer CLI without --json, the way a person does; resolves with its exit status and output. */
async function sealdrop(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string; run: Run }> {
  const run = spawnCli(PEER_CLI, args, { NO_COLOR: '1', ...env });
  const code = await run.exit;
  return { code, out: run.stdout(), err: run.stderr(), run };
}

describe('the command line speaks to people', function () {
  this.timeout(60_000);

  describe('--version, help and usage errors', () => {
    it('both programs print the package version with --version and exit 0', async () => {
      for (const cli of [PEER_CLI, RENDEZVOUS_CLI]) {
        const run = spawnCli(cli, ['--version']);
        expect(await run.exit, cli).to.equal(0);
        expect(run.stdout().trim()).to.equal(pkg.version);
      }
    });

    it('every sealdrop command has examples and shows the global options in its help', async () => {
      for (const command of ['login', 'send', 'receive', 'ls', 'get', 'peers', 'fingerprint', 'trust']) {
        const { code, out } = await sealdrop([command, '--help']);
        expect(code, command).to.equal(0);
        expect(out, command).to.match(/\nExamples:\n {2}(\$ )?(sealdrop|tar) /).and.match(/Global Options:[\s\S]*--server <url>[\s\S]*--home <dir>[\s\S]*--no-color/);
      }
      expect((await sealdrop(['--help'])).out).to.match(/Examples:[\s\S]*sealdrop send report\.pdf/).and.match(/docs\/ERRORS\.md/);
    });

    it('a flag commander cannot parse exits 2 on both programs, with a pointer to --help', async () => {
      const unknown = await sealdrop(['send', 'x', '--to', 'bob', '--bogus']);
      expect(unknown.code).to.equal(2);
      expect(unknown.err).to.match(/unknown option '--bogus'/).and.match(/--help/);
      expect((await sealdrop(['send', 'x'])).code, 'a required option missing').to.equal(2);
      expect((await sealdrop(['frobnicate'])).code, 'an unknown command').to.equal(2);
      const rv = spawnCli(RENDEZVOUS_CLI, ['serve', '--port', 'many']);
      expect(await rv.exit).to.equal(2);
      expect(rv.stderr()).to.match(/expected a whole number/);
    });
  });

  it('operator: enroll and list name the data folder and where it came from; enroll prints the URI beside the QR', async () => {
    const data = path.join(await tempDir(), 'accounts-here');
    const enrolled = spawnCli(RENDEZVOUS_CLI, ['enroll', 'erin', '--data', data]);
    expect(await enrolled.exit, enrolled.stderr()).to.equal(0);
    expect(enrolled.stdout()).to.include(`Enrolled erin in the data folder ${data} (--data).`).and.match(/URI: {4}otpauth:\/\/totp\/sealdrop:erin\?secret=/).and.match(/[▀▄█]{10}/);
    const listed = spawnCli(RENDEZVOUS_CLI, ['list'], { SEALDROP_RENDEZVOUS_DATA: data });
    expect(await listed.exit).to.equal(0);
    expect(listed.stdout()).to.match(/^erin\t\S+\n$/);
    expect(listed.stderr()).to.include(`1 account(s) in the data folder ${data} ($SEALDROP_RENDEZVOUS_DATA):`);
    const empty = spawnCli(RENDEZVOUS_CLI, ['list', '--data', path.join(data, 'none')]);
    expect(await empty.exit).to.equal(0);
    expect(empty.stdout()).to.include(`No accounts in the data folder ${path.join(data, 'none')} (--data).`);
  });

  it('pathWords names the path(s) that carried the bytes, not the one a transfer ended on', () => {
    expect(pathWords('direct', { direct: 0, relay: 0 })).to.equal('over the direct path'); // nothing carried: where it ended
    expect(pathWords('relay', { direct: 200_000, relay: 0 })).to.equal('over the direct path');
    expect(pathWords('direct', { direct: 0, relay: 200_000 })).to.equal('over the relay path'); // relay start, moved after the last byte
    expect(pathWords('direct', { direct: 2 * 1024 * 1024, relay: 1024 * 1024 })).to.equal('over the direct path (2.0 MiB) and the relay path (1.0 MiB)');
  });

  it('docs/ERRORS.md has a row for every error code, with the next step the CLI prints', async () => {
    const doc = await fs.readFile(path.join(ROOT, 'docs/ERRORS.md'), 'utf8');
    for (const code of ERROR_CODES) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${code}\``));
      expect(row, `a row for ${code}`).to.be.a('string');
      expect(row!.replace(/\\\|/g, '|'), code).to.include(NEXT_STEPS[code]);
    }
  });

  describe('connection failures are told apart', () => {
    let home: string;
    before(async () => { home = await tempDir(); });
    const peers = (server: string, extra: string[] = [], env: Record<string, string> = {}) =>
      sealdrop(['--home', home, '--server', server, '--id', 'alice', '--code', '123456', ...extra, 'peers'], env);

    it('a name that does not resolve: "cannot find the host … (DNS lookup failed)", exit 4', async () => {
      const r = await peers('http://no-such-host.invalid:50000');
      expect(r.code).to.equal(4);
      expect(r.err).to.match(/✖ cannot find the host no-such-host\.invalid:50000 \(DNS lookup failed: E[A-Z_]+\) \(ERR_CONNECT\)\n {2}→ check the spelling of the server URL/);
    });

    it('nothing listening: "nothing is listening at … (connection refused)", exit 4', async () => {
      const port = await freePort();
      const r = await peers(`http://127.0.0.1:${port}`);
      expect(r.code).to.equal(4);
      expect(r.err).to.include(`✖ nothing is listening at 127.0.0.1:${port} (connection refused) (ERR_CONNECT)`).and.match(/→ check the port in the server URL/);
    });

    it('a server that accepts but never answers: "no answer … within 15 s", exit 4', async () => {
      const sockets: net.Socket[] = [];
      const silent = net.createServer((s) => sockets.push(s));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as net.AddressInfo).port;
      try {
        const r = await peers(`http://127.0.0.1:${port}`);
        expect(r.code).to.equal(4);
        expect(r.err).to.include(`✖ no answer from the rendezvous at 127.0.0.1:${port} within 15 s (ERR_CONNECT)`).and.match(/→ check the server URL, and that no firewall/);
      } finally {
        for (const s of sockets) s.destroy();
        silent.close();
      }
    });

    describe('https with a certificate from a private CA', () => {
      let root: string;
      let cert: string;
      let url: string;
      let secret: string;
      let server: Run;
      before(async function () {
        root = await tempDir();
        cert = path.join(root, 'cert.pem');
        const key = path.join(root, 'key.pem');
        if (spawnSync('openssl', ['version']).status !== 0) {
          console.log('SKIP untrusted certificate: openssl is not available to make a test certificate');
          return this.skip();
        }
        execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
          '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
        const data = path.join(root, 'data');
        secret = await enroll(data, 'alice');
        ({ server, url } = await startServer(data, ['--tls-cert', cert, '--tls-key', key]));
      });
      after(async () => { server?.child.kill('SIGTERM'); await server?.exit; });

      it('untrusted: says so and names --ca, exit 4; with --ca FILE (stored by login) it works', async () => {
        const r = await peers(url);
        expect(r.code).to.equal(4);
        expect(r.err).to.match(/✖ the rendezvous at 127\.0\.0\.1:\d+ has a certificate this computer does not trust \([A-Z_]+\) \(ERR_CONNECT\)\n {2}→ .*--ca FILE.*NODE_EXTRA_CA_CERTS/);
        const login = await sealdrop(['--home', home, '--server', url, '--id', 'alice', '--ca', cert, 'login', '--secret', secret]);
        expect(login.code, login.err).to.equal(0);
        const after = await sealdrop(['--home', home, 'peers']);
        expect(after.code, after.err).to.equal(0);
        expect(JSON.parse(await fs.readFile(path.join(home, 'config.json'), 'utf8')).ca).to.equal(cert);
      });

      it('https:// to a plain http server and http:// to an https one say which scheme to try', async () => {
        const plain = url.replace('https://', 'http://');
        const r = await peers(plain, ['--ca', cert]);
        expect(r.code).to.equal(4);
        expect(r.err).to.match(/closed the connection before answering|does not answer/).and.match(/https:\/\//);
      });
    });
  });

  describe('with a rendezvous and accounts', () => {
    let world: World;
    before(async () => { world = await startWorld(['alice', 'bob']); });
    after(async () => { await world?.stop(); });

    it('a URL without a scheme: http:// for 127.0.0.1 (said in the output); a secret in lower case with spaces logs in', async () => {
      const home = await tempDir();
      const hostPort = world.url.replace('http://', '');
      const secret = await enroll(world.dataDir, 'dave'); // a fresh account: no code of this step spent yet
      const spaced = secret.toLowerCase().replace(/(.{4})/g, '$1 ').trim();
      const r = await sealdrop(['--home', home, 'login', '--server', hostPort, '--id', 'dave', '--secret', spaced]);
      expect(r.code, r.err).to.equal(0);
      expect(r.err).to.include(`no scheme in "${hostPort}": using ${world.url}`).and.include(`logged in to ${world.url} as dave`);
      const stored = JSON.parse(await fs.readFile(path.join(home, 'config.json'), 'utf8'));
      expect(stored).to.include({ server: world.url, secret });
    });

    it('a server URL that is no URL at all is a usage error in words, not ERR_INTERNAL', async () => {
      const r = await sealdrop(['--home', await tempDir(), 'login', '--server', 'ftp://files.example', '--id', 'alice', '--secret', world.secrets.alice!]);
      expect(r.code).to.equal(2);
      expect(r.err).to.include('✖ the server URL must start with https:// or http://, not ftp:// (ERR_BAD_INPUT)').and.not.include('ERR_INTERNAL');
    });

    it('a typo in the peer ID: "not online — check the spelling", exit 4, the same as for a real ID offline', async () => {
      const file = path.join(await tempDir(), 'a.txt');
      await fs.writeFile(file, 'hi');
      const typo = await sealdrop(['--home', world.homes.alice!, 'send', file, '--to', 'bbo']);
      expect(typo.code).to.equal(4);
      expect(typo.err).to.include('✖ bbo is not online — check the spelling of the ID (ERR_PEER_OFFLINE)').and.match(/→ IDs are exact; bbo must be running `sealdrop receive`/);
      const offline = await sealdrop(['--home', world.homes.alice!, 'send', file, '--to', 'bob']);
      expect(offline.err.replace(/bob/g, 'bbo')).to.include('bbo is not online — check the spelling of the ID');
    });

    it('a malformed peer ID is refused in words before anything is asked of the rendezvous, exit 2, with a guess for capitals', async () => {
      const file = path.join(await tempDir(), 'a.txt');
      await fs.writeFile(file, 'hi');
      const home = ['--home', world.homes.alice!];
      for (const [args, id] of [[['send', file, '--to', 'Bob'], 'Bob'], [['ls', 'b o b'], 'b o b'], [['get', '../bob', 'x'], '../bob'], [['trust', 'x/y', 'AAAA'], 'x/y']] as const) {
        const r = await sealdrop([...home, ...args]);
        expect(r.code, r.err).to.equal(2);
        expect(r.err).to.include(`✖ "${id}" is not a valid ID: IDs are 1–32 characters of a–z, 0–9`).and.include('→ IDs are exact: `sealdrop peers` shows who is online');
        expect(r.err, 'nothing was asked of the rendezvous').to.not.include('asking').and.not.include('session:open');
      }
      expect((await sealdrop([...home, 'send', file, '--to', 'Bob'])).err).to.include('did you mean "bob"?');
    });

    it('a missing local file says it is about this computer; a --dir that is a file says so, exit 6', async () => {
      const missing = await sealdrop(['--home', world.homes.alice!, 'send', '/nope/a.txt', '--to', 'bob']);
      expect(missing.code).to.equal(2);
      expect(missing.err).to.include('✖ cannot read /nope/a.txt: no such file or folder (ERR_NOT_FOUND)').and.include('→ check the path: it names a file or folder on this computer');
      const file = path.join(await tempDir(), 'not-a-folder');
      await fs.writeFile(file, 'x');
      for (const args of [['receive', '--dir', file, '--yes', '--once'], ['get', 'bob', 'x', '--dir', path.join(file, 'sub')]]) {
        const r = await sealdrop(['--home', world.homes.bob!, ...args]);
        expect(r.code, r.err).to.equal(6);
        expect(r.err).to.match(/✖ cannot receive into \S+: it \(or a folder above it\) is a file, not a folder \(ERR_IO\)/).and.include('→ --dir names the folder to save into');
      }
    });

    it('an empty --text is refused before anything connects, exit 2', async () => {
      const r = await sealdrop(['--home', world.homes.alice!, 'send', '--text', '  ', '--to', 'bob']);
      expect(r.code).to.equal(2);
      expect(r.err).to.include('✖ the message is empty: put the text after --text');
    });

    it('a folder that cannot be read is ERR_IO with words (never ERR_INTERNAL), exit 6', async function () {
      const dir = await tempDir();
      await fs.mkdir(path.join(dir, 'photos', 'private'), { recursive: true });
      await fs.writeFile(path.join(dir, 'photos', 'a.jpg'), 'x');
      await fs.chmod(path.join(dir, 'photos', 'private'), 0o000);
      let argv = [PEER_CLI, '--home', world.homes.alice!, 'send', path.join(dir, 'photos'), '--to', 'bob'];
      if (process.getuid?.() === 0) {
        // root reads any folder: run the command as nobody, who cannot.
        await fs.chmod(dir, 0o755);
        if (spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']).status !== 0) {
          console.log('SKIP unreadable folder: running as root and cannot drop to another user (setpriv)');
          return this.skip();
        }
        argv = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...argv];
      }
      const child = spawnSync(argv[0]!, argv.slice(1), { env: { ...process.env, NO_COLOR: '1', SEALDROP_LOG: 'silent' }, encoding: 'utf8' });
      expect(child.status, child.stderr).to.equal(6);
      expect(child.stderr).to.include(`✖ cannot read the folder ${path.join(dir, 'photos', 'private')}: permission denied (ERR_IO)`).and.not.include('ERR_INTERNAL');
      await fs.chmod(path.join(dir, 'photos', 'private'), 0o755);
    });

    it('a revoked account: receive says it cannot come back online and what to do', async () => {
      const data = world.dataDir;
      const home = await tempDir();
      const carol = await enroll(data, 'carol');
      expect((await sealdrop(['--home', home, 'login', '--server', world.url, '--id', 'carol', '--secret', carol])).code).to.equal(0);
      const receive = spawnCli(PEER_CLI, ['--home', home, 'receive', '--yes', '--dir', await tempDir()], { NO_COLOR: '1' });
      await until(receive, /online as carol/);
      const revoke = spawnCli(RENDEZVOUS_CLI, ['revoke', 'carol', '--data', data]);
      expect(await revoke.exit).to.equal(0);
      expect(await receive.exit).to.equal(3);
      expect(receive.stderr()).to.match(/✖ .*(revoked|unknown account).* \(ERR_AUTH\)\n {2}→ .*revoked account.*operator/);
    });
  });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

async function until(run: Run, re: RegExp, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!re.test(run.stderr())) {
    if (Date.now() > end) throw new Error(`never saw ${re}; stderr: ${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
