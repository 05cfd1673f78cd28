/**
 * Running the rendezvous as a service: /healthz, /readyz and /metrics on the Socket.IO
 * port, scraped over real HTTP from a spawned `serve`, with real logins moving the numbers.
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { runRendezvousCli as cli, type CliRun, startServe, tempDir } from './helpers/rendezvous.js';

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

  it('every other path still answers 404, and other methods 405', async () => {
    for (const path of ['/', '/health', '/healthz/', '/HEALTHZ', '/readyz/x', '/%2e%2e/healthz', '//healthz', '/socket.io.x']) {
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
