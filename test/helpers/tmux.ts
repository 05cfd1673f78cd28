/**
 * A real pseudo-terminal for interactive tests: one tmux server per test file
 * (its own socket, so it works inside the test network namespace and never
 * touches a user's tmux), one detached session per program under test.
 */
import { execFileSync, spawnSync } from 'node:child_process';

export function hasTmux(): boolean {
  return spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0;
}

const env = (): NodeJS.ProcessEnv => {
  const e = { ...process.env };
  delete e.TMUX; // not nested in whatever tmux runs the tests
  return e;
};

export class TmuxServer {
  private count = 0;
  constructor(readonly socket = `sealdrop-test-${process.pid}`) {}

  tmux(args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { env: env(), encoding: 'utf8' });
  }

  /** Runs `argv` (no shell in between unless you give one) in a fresh 120×40 terminal. */
  open(argv: string[], cwd: string): Pane {
    const name = `p${++this.count}`;
    this.tmux(['new-session', '-d', '-x', '120', '-y', '40', '-s', name, '-c', cwd, '--', ...argv]);
    return new Pane(this, name);
  }

  kill(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server'], { env: env(), stdio: 'ignore' });
  }
}

export class Pane {
  constructor(private readonly server: TmuxServer, readonly name: string) {}

  /** tmux key names: Enter, Tab, Down, C-c … */
  keys(...keys: string[]): void { this.server.tmux(['send-keys', '-t', this.name, ...keys]); }

  /** Literal text, as typed. */
  type(text: string): void { this.server.tmux(['send-keys', '-t', this.name, '-l', text]); }

  /** What the terminal shows now, scrollback included, wrapped lines joined. */
  screen(): string { return this.server.tmux(['capture-pane', '-p', '-J', '-S', '-500', '-t', this.name]); }

  /** Presses `key` (again every second) until the screen matches: for prompts that ignore keys while loading. */
  async pressUntil(key: string, re: RegExp, ms = 10_000): Promise<string> {
    const until = Date.now() + ms;
    for (;;) {
      this.keys(key);
      try {
        return await this.waitFor(re, 1_000);
      } catch (err) {
        if (Date.now() > until) throw err;
      }
    }
  }

  /** Resolves with the screen once it matches; rejects with the screen after `ms`. */
  async waitFor(re: RegExp, ms = 15_000): Promise<string> {
    const until = Date.now() + ms;
    for (;;) {
      const s = this.screen();
      if (re.test(s)) return s;
      if (Date.now() > until) throw new Error(`terminal never showed ${re} within ${ms} ms; it shows:\n${s}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
