/** `sealdrop-rendezvous serve` logs lines a person reads on a terminal, and JSON otherwise. */
import { expect } from 'chai';
import path from 'node:path';
import { RENDEZVOUS_CLI, spawnCli, tempDir } from './helpers/cli.js';
import { hasTmux, TmuxServer } from './helpers/tmux.js';
import { enroll } from './helpers/world.js';
import { connect, resolveAccount } from '../peer/session/login.js';
import { Home } from '../peer/session/home.js';

describe('rendezvous logs', function () {
  this.timeout(30_000);

  it('are one JSON object per line when stderr is not a terminal', async () => {
    const data = path.join(await tempDir(), 'data');
    await enroll(data, 'alice');
    // The test helpers run with SEALDROP_LOG=silent: this one logs at info, to see its lines.
    const run = spawnCli(RENDEZVOUS_CLI, ['serve', '--port', '0', '--data', data], { SEALDROP_LOG: 'info' });
    await new Promise<void>((resolve) => { const t = setInterval(() => { if (/listening on/.test(run.stdout())) { clearInterval(t); resolve(); } }, 20); });
    run.child.kill('SIGTERM');
    await run.exit;
    const lines = run.stderr().trim().split('\n').filter(Boolean);
    expect(lines.length).to.be.greaterThan(0);
    for (const line of lines) expect(JSON.parse(line)).to.have.property('event');
  });

  it('are time, level, event and key=value on a terminal (tmux)', async function () {
    if (!hasTmux()) { console.log('SKIP rendezvous logs on a terminal: tmux is not installed'); return this.skip(); }
    const dir = await tempDir();
    const data = path.join(dir, 'data');
    const secret = await enroll(data, 'alice');
    const tmux = new TmuxServer(`sealdrop-logs-${process.pid}`);
    try {
      const pane = tmux.open(['sh', '-c', `SEALDROP_LOG=info "$0" serve --port 0 --data "$1"; sleep 600`, RENDEZVOUS_CLI, data], dir);
      const url = /listening on (\S+)/.exec(await pane.waitFor(/listening on \S+/))![1]!;
      const home = new Home(path.join(dir, 'home'));
      await home.writeCredentials({ server: url, id: 'alice', secret });
      const session = await connect(home, await resolveAccount(home, {}));
      session.disconnect();
      const screen = await pane.waitFor(/\d\d:\d\d:\d\d info +connect id=alice/);
      expect(screen).to.not.match(/\{"time"/);
    } finally {
      tmux.kill();
    }
  });
});
