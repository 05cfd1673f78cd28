/**
 * Running the rendezvous as a service: /healthz, /readyz and /metrics on the Socket.IO
 * port, scraped over real HTTP from a spawned `serve`, with real logins moving the numbers.
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { totpCode } from '../shared/totp.js';
import { randomFile, ROOT, RENDEZVOUS_CLI, sha256File, tempDir as tempDirAsync } from './helpers/cli.js';
import { connect, runRendezvousCli as cli, type CliRun, refusal, startRendezvous, startServe, tempDir } from './helpers/rendezvous.js';
import { startWorld } from './helpers/world.js';

/** One HTTP exchange on 127.0.0.1, any method and raw path (fetch would normalise the path). */
export function http(url: string, path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('operations: health and readiness', function () {
  this.timeout(30_000);
  let root: string;
  let run: CliRun;
  let url: string;
  before(async () => {
    root = tempDir('sealdrop-ops-');
    await cli(['enroll', 'alice', '--data', join(root, 'data'), '--json']);
    ({ run, url } = await startServe(['--data', join(root, 'data')], { SEALDROP_LOG: 'silent' }));
  });
  after(async () => {
    run?.child.kill('SIGTERM');
    await run?.exit;
    rmSync(root, { recursive: true, force: true });
  });

  it('/healthz answers 200 ok and /readyz 200 ready, on the Socket.IO port', async () => {
    const health = await fetch(`${url}/healthz`);
    expect(health.status).to.equal(200);
    expect(await health.text()).to.equal('ok\n');
    expect(health.headers.get('cache-control')).to.equal('no-store');
    const ready = await fetch(`${url}/readyz?verbose=1`);
    expect(ready.status).to.equal(200);
    expect(await ready.text()).to.equal('ready\n');
    const head = await http(url, '/healthz', 'HEAD');
    expect(head.status).to.equal(200);
    expect(head.body).to.equal('');
  });

  it('/ is the browser peer (on by default on loopback); with --no-web it is 404 like any other path', async () => {
    const page = await http(url, '/');
    expect(page.status).to.equal(200);
    expect(page.headers['content-type']).to.match(/^text\/html/);
    expect(page.headers['content-security-policy']).to.include("script-src 'self'");
    const off = await startServe(['--data', join(root, 'data'), '--no-web'], { SEALDROP_LOG: 'silent' });
    try {
      for (const path of ['/', '/app.js']) {
        const res = await http(off.url, path);
        expect(res.status, path).to.equal(404);
        expect(res.body, path).to.equal('sealdrop rendezvous: connect with a sealdrop peer\n');
      }
    } finally {
      off.run.child.kill('SIGTERM');
      await off.run.exit;
    }
  });

  it('every other path still answers 404, and other methods 405', async () => {
    for (const path of ['/index.html', '/health', '/healthz/', '/HEALTHZ', '/readyz/x', '/%2e%2e/healthz', '//healthz', '/socket.io.x']) {
      const res = await http(url, path);
      expect(res.status, path).to.equal(404);
      expect(res.body, path).to.equal('sealdrop rendezvous: connect with a sealdrop peer\n');
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const res = await http(url, '/healthz', method);
      expect(res.status, method).to.equal(405);
      expect(res.headers.allow).to.equal('GET, HEAD');
    }
    expect((await fetch(`${url}/healthz`)).status, 'still alive').to.equal(200);
  });
});

/** One sample of the Prometheus text format. */
interface Sample { name: string; labels: Record<string, string>; value: number }

/** Parses the text exposition format (version 0.0.4): `# HELP`/`# TYPE` lines and `name{l="v",…} value` samples. */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
    for (let at = 0; at < body.length;) {
      re.lastIndex = at;
      const l = re.exec(body);
      if (!l) throw new Error(`bad labels in ${JSON.stringify(line)}`);
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      at = re.lastIndex;
    }
    // Prometheus parses values like Go's ParseFloat: NaN and Inf in any case (prom-client writes `Nan`).
    const raw = m[3]!.toLowerCase();
    const value = raw === 'nan' ? NaN : raw === '+inf' ? Infinity : raw === '-inf' ? -Infinity : Number(raw);
    if (Number.isNaN(value) && raw !== 'nan') throw new Error(`bad value in ${JSON.stringify(line)}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

async function scrape(url: string): Promise<{ samples: Sample[]; text: string }> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).to.equal(200);
  expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { samples: parseMetrics(text), text };
}

/** The value of one sample (its labels must match those given), 0 when absent. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  expect(found.length, `${name} ${JSON.stringify(labels)}`).to.be.at.most(1);
  return found[0]?.value ?? 0;
}

/** Polls `check` until it holds or the deadline passes (then one last try that throws). */
async function eventually(check: () => Promise<void>, ms = 5_000): Promise<void> {
  for (const until = Date.now() + ms; Date.now() < until;) {
    try { return await check(); } catch { await new Promise((r) => setTimeout(r, 50)); }
  }
  await check();
}

/** Every label and its values in an exposition: fixed sets, never a client's words. */
const ALLOWED_LABELS: Record<string, RegExp> = {
  result: /^[a-z_]+$/, scope: /^(connection|account|pair)$/, event: /^(any|session:open|signal|peers)$/,
  state: /^(pending|open|starting|ready|draining|stopping|throttled|locked)$/, subject: /^(account|address)$/,
  // prom-client's default metrics
  version: /^v\d+\.\d+\.\d+$/, major: /^\d+$/, minor: /^\d+$/, patch: /^\d+$/, kind: /^[a-z]+$/, space: /^[a-z_]+$/,
  type: /^[A-Za-z]+$/, le: /^[\d.e+-]+|\+Inf$/, quantile: /^[\d.]+$/,
};

describe('operations: health over TLS', function () {
  this.timeout(30_000);
  it('/healthz, /readyz and /metrics answer on the https port too', async function () {
    const root = tempDir('sealdrop-ops-tls-');
    const cert = join(root, 'cert.pem');
    const key = join(root, 'key.pem');
    try {
      try {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
          '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
      } catch {
        console.log('SKIP TLS health test: openssl is not available to make a test certificate');
        this.skip();
      }
      const { run, url } = await startServe(['--data', join(root, 'data'), '--tls-cert', cert, '--tls-key', key], { SEALDROP_LOG: 'silent' });
      try {
        expect(url).to.match(/^https:/);
        const get = (path: string) => new Promise<number>((resolve, reject) => {
          httpsRequest(`${url}${path}`, { ca: readFileSync(cert) }, (res) => { res.resume(); resolve(res.statusCode!); }).on('error', reject).end();
        });
        expect(await get('/healthz')).to.equal(200);
        expect(await get('/readyz')).to.equal(200);
        expect(await get('/metrics')).to.equal(200);
        expect(await get('/')).to.equal(200); // the browser peer: on by default with TLS
        expect(await get('/index.html')).to.equal(404);
      } finally {
        run.child.kill('SIGTERM');
        await run.exit;
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('operations: /metrics', function () {
  this.timeout(60_000);
  let root: string;
  let data: string;
  let run: CliRun;
  let url: string;
  const secrets: Record<string, string> = {};
  before(async () => {
    root = tempDir('sealdrop-ops-');
    data = join(root, 'data');
    for (const id of ['alice', 'bob']) secrets[id] = JSON.parse((await cli(['enroll', id, '--data', data, '--json'])).stdout).secret;
    ({ run, url } = await startServe(['--data', data], { SEALDROP_LOG: 'silent' }));
  });
  after(async () => {
    run?.child.kill('SIGTERM');
    await run?.exit;
    rmSync(root, { recursive: true, force: true });
  });

  it('counts peers, receivers and logins by result as they happen, with event-loop lag and process metrics', async () => {
    const before = (await scrape(url)).samples;
    expect(value(before, 'sealdrop_peers_online')).to.equal(0);
    expect(value(before, 'sealdrop_server_state', { state: 'ready' })).to.equal(1);
    expect(value(before, 'sealdrop_auth_attempts_total', { result: 'bad_code' }), 'present before any failure').to.equal(0);
    expect(before.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).to.equal(true);
    expect(before.some((s) => s.name === 'process_resident_memory_bytes')).to.equal(true);

    const code = totpCode(secrets.alice!, Date.now());
    const a = await connect(url, { id: 'alice', code });
    const b = await connect(url, { id: 'bob', code: totpCode(secrets.bob!, Date.now()), receiving: true });
    try {
      const wrong = String((Number(code) + 500_000) % 1_000_000).padStart(6, '0');
      expect((await refusal(url, { id: 'alice', code: wrong })).code).to.equal('ERR_AUTH');
      expect((await refusal(url, { id: 'alice', code })).code).to.equal('ERR_AUTH_REPLAY');
      expect((await refusal(url, { id: 'nobody', code: '123456' })).code).to.equal('ERR_AUTH');
      expect((await refusal(url, { id: 'alice', token: 'A'.repeat(43) })).code).to.equal('ERR_AUTH');
      expect((await refusal(url, { id: 'alice' })).code).to.equal('ERR_BAD_INPUT');
      const again = await connect(url, { id: 'alice', token: a.welcome.token });
      again.socket.close();

      const now = (await scrape(url)).samples;
      expect(value(now, 'sealdrop_peers_online'), 'alice, bob').to.equal(2);
      expect(value(now, 'sealdrop_accounts_online')).to.equal(2);
      expect(value(now, 'sealdrop_receivers_online'), 'bob').to.equal(1);
      const auth = (result: string) => value(now, 'sealdrop_auth_attempts_total', { result }) - value(before, 'sealdrop_auth_attempts_total', { result });
      expect(auth('ok_code')).to.equal(2);
      expect(auth('ok_token')).to.equal(1);
      expect(auth('bad_code')).to.equal(1);
      expect(auth('replay')).to.equal(1);
      expect(auth('unknown_account')).to.equal(1);
      expect(auth('bad_token')).to.equal(1);
      expect(auth('bad_handshake')).to.equal(1);
      expect(value(now, 'sealdrop_sessions', { state: 'open' })).to.equal(0);
    } finally {
      a.socket.close();
      b.socket.close();
    }
    await eventually(async () => expect(value((await scrape(url)).samples, 'sealdrop_peers_online')).to.equal(0));
  });

  it('counts locked accounts and addresses, and no label ever carries an ID or code a client chose', async () => {
    // Two failures lock an account, four an address: no spacing out in between to wait through.
    const strict = await startServe(['--data', data, '--account-throttle-after', '2', '--account-lock-after', '2',
      '--address-throttle-after', '4', '--address-lock-after', '4'], { SEALDROP_LOG: 'silent' });
    try {
      const hostile = ['evil"} 1\nsealdrop_x 1', 'a'.repeat(500), '\u202ehidden', '../../x', 'x\\"'];
      for (const id of hostile) expect((await refusal(strict.url, { id, code: '000000' })).code, id).to.equal('ERR_BAD_INPUT');
      const results: Array<string | undefined> = [];
      for (const id of ['bob', 'bob', 'bob', 'mallory', 'mallory', 'alice']) results.push((await refusal(strict.url, { id, code: '000000' })).code);
      expect(results).to.deep.equal(['ERR_AUTH', 'ERR_AUTH', 'ERR_LOCKED', 'ERR_AUTH', 'ERR_AUTH', 'ERR_LOCKED']);
      const { samples, text } = await scrape(strict.url);
      expect(value(samples, 'sealdrop_auth_blocked', { subject: 'account', state: 'locked' }), 'bob, mallory').to.equal(2);
      expect(value(samples, 'sealdrop_auth_blocked', { subject: 'address', state: 'locked' }), '127.0.0.1').to.equal(1);
      expect(value(samples, 'sealdrop_auth_blocked', { subject: 'account', state: 'throttled' })).to.equal(0);
      expect(value(samples, 'sealdrop_auth_attempts_total', { result: 'locked' })).to.equal(2);
      expect(value(samples, 'sealdrop_auth_attempts_total', { result: 'bad_code' })).to.equal(2);
      expect(value(samples, 'sealdrop_auth_attempts_total', { result: 'unknown_account' })).to.equal(2);
      expect(value(samples, 'sealdrop_auth_attempts_total', { result: 'bad_handshake' })).to.equal(hostile.length);
      for (const word of ['mallory', 'evil', 'aaaaaaaa', 'hidden', '../', 'bob', 'alice', secrets.alice!, secrets.bob!, '127.0.0.1', '"000000"']) {
        expect(text, word).to.not.include(word);
      }
      for (const sample of samples) {
        for (const [label, v] of Object.entries(sample.labels)) {
          expect(ALLOWED_LABELS[label], `label ${label} of ${sample.name}`).to.be.instanceOf(RegExp);
          expect(v, `${sample.name}{${label}}`).to.match(ALLOWED_LABELS[label]!);
        }
      }
    } finally {
      strict.run.child.kill('SIGTERM');
      await strict.run.exit;
    }
  });

  it('counts rate-limit hits by scope and event', async () => {
    const before = (await scrape(url)).samples;
    // A fresh code (the step after the ones spent above is within the skew).
    const a = await connect(url, { id: 'alice', code: totpCode(secrets.alice!, Date.now() + 30_000) });
    try {
      const replies = await Promise.all(Array.from({ length: 30 }, () => a.socket.timeout(3000).emitWithAck('peers', {})));
      const throttled = replies.filter((r: { code?: string }) => r.code === 'ERR_THROTTLED').length;
      expect(throttled, 'over the burst of 20 per connection').to.be.at.least(10);
      const after = (await scrape(url)).samples;
      const hits = (scope: string, event: string) => value(after, 'sealdrop_rate_limited_total', { scope, event }) - value(before, 'sealdrop_rate_limited_total', { scope, event });
      expect(hits('connection', 'peers')).to.equal(throttled);
      expect(hits('account', 'peers')).to.equal(0);
      expect(hits('connection', 'any')).to.equal(0);
    } finally {
      a.socket.close();
    }
  });

  it('/metrics answers GET and HEAD only, on its exact path', async () => {
    expect((await http(url, '/metrics?name[]=x')).status).to.equal(200);
    for (const method of ['POST', 'PUT', 'DELETE', 'TRACE']) {
      const res = await http(url, '/metrics', method);
      expect(res.status, method).to.equal(405);
    }
    for (const path of ['/metrics/', '/metrics/../metrics', '/METRICS', '/metrics%00', '/metrics.json']) {
      expect((await http(url, path)).status, path).to.equal(404);
    }
    const head = await http(url, '/metrics', 'HEAD');
    expect(head.status).to.equal(200);
    expect(head.body).to.equal('');
  });

  it('is off by default on a non-loopback host, on with --metrics, and off with --no-metrics', async () => {
    const cases: Array<[string[], number]> = [[['--host', '0.0.0.0'], 404], [['--host', '0.0.0.0', '--metrics'], 200], [['--no-metrics'], 404]];
    for (const [args, status] of cases) {
      const served = await startServe(['--data', data, ...args], { SEALDROP_LOG: 'silent' });
      try {
        const port = new URL(served.url).port;
        expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status, args.join(' ')).to.equal(status);
        expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status, args.join(' ')).to.equal(200);
      } finally {
        served.run.child.kill('SIGTERM');
        await served.run.exit;
      }
    }
  });
});

describe('operations: metrics of servers sharing a process', () => {
  it('each server has its own registry: two in one process count apart, and one without metrics serves no /metrics', async () => {
    const one = await startRendezvous({ accounts: ['alice'], metrics: true });
    const two = await startRendezvous({ accounts: ['alice'], metrics: true });
    const off = await startRendezvous({ accounts: ['alice'] });
    try {
      await one.login('alice');
      await refusal(two.url, { id: 'alice', code: '000000' });
      const a = (await scrape(one.url)).samples;
      const b = (await scrape(two.url)).samples;
      expect(value(a, 'sealdrop_peers_online')).to.equal(1);
      expect(value(b, 'sealdrop_peers_online')).to.equal(0);
      expect(value(a, 'sealdrop_auth_attempts_total', { result: 'ok_code' })).to.equal(1);
      expect(value(b, 'sealdrop_auth_attempts_total', { result: 'ok_code' })).to.equal(0);
      expect(value(b, 'sealdrop_auth_attempts_total', { result: 'bad_code' })).to.equal(1);
      expect((await fetch(`${off.url}/metrics`)).status).to.equal(404);
      expect((await fetch(`${off.url}/readyz`)).status).to.equal(200);
    } finally {
      await Promise.all([one.stop(), two.stop(), off.stop()]);
    }
  });
});

describe('operations: relay metrics from a real transfer', function () {
  this.timeout(90_000);
  it('a relayed transfer adds its bytes to sealdrop_relay_bytes_total and its frames', async () => {
    const world = await startWorld(['alice', 'bob']);
    try {
      const dir = await tempDirAsync();
      const file = join(dir, 'payload.bin');
      const size = 3 << 20;
      const sha = await randomFile(file, size);
      const before = (await scrape(world.url)).samples;
      const inbox = await tempDirAsync();
      const bob = world.peer('bob', ['receive', '--dir', inbox, '--yes', '--once']);
      await bob.waitFor('ready');
      const alice = world.peer('alice', ['send', file, '--to', 'bob', '--relay']);
      expect(await alice.exit, alice.stderr()).to.equal(0);
      expect(await bob.exit, bob.stderr()).to.equal(0);
      expect(await sha256File(join(inbox, 'payload.bin'))).to.equal(sha);
      const after = (await scrape(world.url)).samples;
      const bytes = value(after, 'sealdrop_relay_bytes_total') - value(before, 'sealdrop_relay_bytes_total');
      expect(bytes, 'ciphertext: the file plus framing and tags').to.be.within(size, size * 1.05);
      expect(value(after, 'sealdrop_relay_frames_total')).to.be.above(value(before, 'sealdrop_relay_frames_total'));
      expect(value(after, 'sealdrop_auth_attempts_total', { result: 'ok_token' }) + value(after, 'sealdrop_auth_attempts_total', { result: 'ok_code' }))
        .to.be.at.least(2);
    } finally {
      await world.stop();
    }
  });
});

describe('operations: serve --config FILE', function () {
  this.timeout(60_000);
  let root: string;
  let data: string;
  before(async () => {
    root = tempDir('sealdrop-ops-config-');
    data = join(root, 'data');
    await cli(['enroll', 'alice', '--data', data, '--json']);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const config = (name: string, text: string) => {
    const file = join(root, name);
    writeFileSync(file, text);
    return file;
  };

  it('takes flags by their long names, and flags on the command line win', async () => {
    const file = config('serve.json', JSON.stringify({
      host: '127.0.0.2', data, metrics: false, 'max-relay-sessions': 4, 'trust-proxy': false,
      'allow-origin': ['https://a.example'], 'ice-servers': [{ urls: 'stun:127.0.0.1:3478' }],
    }));
    const fromFile = await startServe(['--config', file], { SEALDROP_LOG: 'silent' });
    try {
      expect(fromFile.url).to.match(/^http:\/\/127\.0\.0\.2:\d+$/);
      expect((await fetch(`${fromFile.url}/metrics`)).status, '"metrics": false').to.equal(404);
      const { socket, welcome } = await connect(fromFile.url, { id: 'alice', code: totpCode(JSON.parse((await cli(['enroll', 'alice', '--data', data, '--json', '--force'])).stdout).secret, Date.now()) });
      expect(welcome.iceServers).to.deep.equal([{ urls: 'stun:127.0.0.1:3478' }]);
      socket.close();
    } finally {
      fromFile.run.child.kill('SIGTERM');
      await fromFile.run.exit;
    }
    const overridden = await startServe(['--config', file, '--host', '127.0.0.1', '--metrics'], { SEALDROP_LOG: 'silent' });
    try {
      expect(overridden.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${overridden.url}/metrics`)).status, '--metrics over "metrics": false').to.equal(200);
    } finally {
      overridden.run.child.kill('SIGTERM');
      await overridden.run.exit;
    }
  });

  it('knows every flag of serve --help as a key (derived from the same option list)', async () => {
    const help = (await cli(['serve', '--help'])).stdout;
    const keys = [...new Set([...help.matchAll(/--(?:no-)?([a-z][a-z-]+)/g)].map((m) => m[1]!))].filter((k) => k !== 'config' && k !== 'help');
    expect(keys).to.include.members(['port', 'host', 'metrics', 'drain-timeout', 'max-relay-sessions', 'allow-origin', 'ice-servers']);
    const file = config('every.json', JSON.stringify(Object.fromEntries(keys.map((k) => [k, { wrong: true }]))));
    const r = await cli(['serve', '--config', file]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.not.match(/unknown key/);
    for (const key of keys) expect(r.stderr, key).to.include(`"${key}": `);
  });

  it('refuses a bad file with exit 2 and one line naming the key or the problem', async () => {
    mkdirSync(join(root, 'a-folder'));
    const cases: Array<[string, RegExp]> = [
      [config('unknown.json', '{"port": 0, "max-relay-session": 3}'), /unknown key "max-relay-session"/],
      [config('nested.json', '{"config": "other.json"}'), /unknown key "config"/],
      [config('proto.json', '{"__proto__": {"host": "0.0.0.0"}}'), /unknown key "__proto__"/],
      [config('type.json', '{"max-relay-sessions": "64"}'), /"max-relay-sessions": Expected number, received string/],
      [config('bool.json', '{"trust-proxy": "yes"}'), /"trust-proxy": Expected boolean, received string/],
      [config('negated.json', '{"relay-start": "no"}'), /"relay-start": Expected boolean, received string/],
      [config('range.json', '{"port": 70000}'), /"port": a port is 0 to 65535/],
      [config('fraction.json', '{"relay-idle": 1.5}'), /"relay-idle": expected a whole number/],
      [config('zero.json', '{"relay-idle": 0}'), /"relay-idle": expected a whole number above 0/],
      [config('list.json', '{"allow-origin": "https://a.example"}'), /"allow-origin": Expected array, received string/],
      [config('array.json', '[{"port": 1}]'), /expected a JSON object of flags/],
      [config('broken.json', '{"port": 1,'), /not valid JSON/],
      [config('huge.json', `{"host": "${'x'.repeat(2 << 20)}"}`), /is \d+ bytes; at most 1048576 are read/],
      [join(root, 'a-folder'), /is a folder, not a file/],
      ['/dev/zero', /is not a regular file/],
      [join(root, 'missing.json'), /cannot read config file .*ENOENT/],
    ];
    for (const [file, pattern] of cases) {
      const r = await cli(['serve', '--data', data, '--config', file]);
      expect(r.code, file).to.equal(2);
      expect(r.stdout, file).to.equal('');
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr, file).to.match(pattern).and.match(/\[ERR_CONFIG\]$/m);
    }
  });
});

describe('operations: the systemd unit and the container recipe', function () {
  this.timeout(60_000);
  const deploy = join(ROOT, 'deploy');
  const unit = readFileSync(join(deploy, 'sealdrop-rendezvous.service'), 'utf8');
  const directives = unit.split('\n').filter((l) => /^[A-Z]\w*=/.test(l));
  let root: string;
  before(() => { root = tempDir('sealdrop-ops-deploy-'); });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('the unit passes systemd-analyze verify', function () {
    if (spawnSync('systemd-analyze', ['--version']).error) {
      console.log('SKIP systemd-analyze verify: systemd-analyze is not installed here');
      this.skip();
    }
    // verify checks that ExecStart's program exists: point it at this checkout's command.
    const dir = join(root, 'unit');
    mkdirSync(dir);
    const file = join(dir, 'sealdrop-rendezvous.service');
    writeFileSync(file, unit.replaceAll('/opt/sealdrop/bin/sealdrop-rendezvous.js', RENDEZVOUS_CLI));
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr.trim(), 'no warnings').to.equal('');
    const security = spawnSync('systemd-analyze', ['security', '--offline=yes', file], { encoding: 'utf8' });
    const exposure = /Overall exposure level for .*: ([\d.]+)/.exec(security.stdout);
    if (exposure) expect(Number(exposure[1]), security.stdout).to.be.at.most(2.5);
  });

  it('the unit runs serve --config as its own user with the hardening options, and no MemoryDenyWriteExecute (V8 JIT)', () => {
    for (const line of [
      'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'PrivateDevices=yes',
      'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX', 'SystemCallFilter=@system-service', 'CapabilityBoundingSet=',
      'StateDirectory=sealdrop-rendezvous', 'User=sealdrop-rendezvous', 'KillSignal=SIGTERM', 'RestartPreventExitStatus=2',
    ]) expect(directives, line).to.include(line);
    expect(directives.some((l) => l.startsWith('MemoryDenyWriteExecute='))).to.equal(false);
    const exec = directives.find((l) => l.startsWith('ExecStart='))!;
    expect(exec).to.match(/ serve --config \/etc\/sealdrop-rendezvous\/config\.json$/);
    const stopSec = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)![1]);
    const drain = JSON.parse(readFileSync(join(deploy, 'rendezvous.json'), 'utf8'))['drain-timeout'];
    expect(stopSec, 'the drain and the 10 s close fit before SIGKILL').to.be.above(drain + 10);
  });

  it('the shipped config files are valid serve configs', async () => {
    for (const name of ['rendezvous.json', 'container.json']) {
      const served = await startServe(['--config', join(deploy, name), '--host', '127.0.0.1', '--data', join(root, name)], { SEALDROP_LOG: 'silent' });
      served.run.child.kill('SIGTERM');
      expect(await served.run.exit, `${name}: ${served.run.stdout()} ${served.run.stderr()}`).to.equal(0);
    }
  });

  it('the Containerfile builds in two node:20-slim stages, runs as a user with a data volume, and its HEALTHCHECK works', async () => {
    const recipe = readFileSync(join(deploy, 'Containerfile'), 'utf8');
    const from = [...recipe.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    // npm ci runs `prepare` (npm run build): everything the build compiles is copied before it.
    const firstNpmCi = recipe.indexOf('RUN npm ci');
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
    for (const folder of [...new Set([...build.include.map((g) => g.split('/')[0]!), 'web', 'bin'])]) {
      const copy = recipe.indexOf(`COPY ${folder} ${folder}`);
      expect(copy, `COPY ${folder} before npm ci`).to.be.above(-1).and.below(firstNpmCi);
    }
    expect(from).to.have.length(2);
    for (const image of from) expect(image).to.match(/node:20-slim/);
    const user = /^USER (\S+)$/m.exec(recipe)?.[1];
    expect(user).to.be.a('string').and.not.match(/^(root|0)$/);
    expect(recipe.indexOf('USER ')).to.be.below(recipe.indexOf('ENTRYPOINT'));
    expect(recipe).to.match(/^VOLUME \/data$/m).and.match(/^CMD \["serve", "--config", "\/etc\/sealdrop-rendezvous\/config\.json"\]$/m);
    const config = JSON.parse(readFileSync(join(deploy, 'container.json'), 'utf8'));
    expect(config.data).to.equal('/data');
    expect(recipe).to.include(`EXPOSE ${config.port}`);

    // The HEALTHCHECK command itself, against a server on the config's port, and with none.
    const check = /^ {2}CMD \["node", "-e", "(.*)"\]$/m.exec(recipe)![1]!.replace(/\\"/g, '"');
    expect(check).to.include(`http://127.0.0.1:${config.port}/healthz`);
    const probe = () => spawnSync(process.execPath, ['-e', check], { timeout: 10_000 }).status;
    const served = await startServe(['--config', join(deploy, 'container.json'), '--host', '127.0.0.1', '--port', String(config.port), '--data', join(root, 'container')], { SEALDROP_LOG: 'silent' });
    try {
      expect(probe(), 'healthy').to.equal(0);
    } finally {
      served.run.child.kill('SIGTERM');
      await served.run.exit;
    }
    expect(probe(), 'nothing listening').to.equal(1);
  });
});
