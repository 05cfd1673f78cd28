/**
 * `sealdrop` with no command: the interactive menu. On a terminal it walks a
 * first-time user through login, then loops over Send, Receive, Get, Peers
 * until Exit or Ctrl-C. Without a terminal it refuses instead of prompting.
 */
import { input, password, select } from '@inquirer/prompts';
import { SealdropError, toSealdropError } from '../../shared/errors.js';
import { isBase32Secret } from '../../shared/totp.js';
import { bold, cyan, dim, line, type Reporter } from './cli-output.js';
import { homeOf, loginCommand, type GlobalFlags } from './commands.js';
import type { Home } from '../session/home.js';
import { resolveAccount, type Account } from '../session/login.js';
import { getAction, peersAction, receiveAction, sendAction, type MenuContext } from './menu-actions.js';
import { askId, isPromptExit } from './menu-prompts.js';
import { normalizeSecret, normalizeServerUrl } from './lenient-input.js';

type Entry = 'send' | 'receive' | 'get' | 'peers' | 'exit';

const ENTRIES: Array<{ name: string; value: Entry; description: string }> = [
  { name: 'Send', value: 'send', description: 'send files or folders to a peer' },
  { name: 'Receive', value: 'receive', description: 'stay online and accept transfers until Ctrl-C' },
  { name: 'Get from a peer', value: 'get', description: 'fetch something a peer shares' },
  { name: 'Peers online', value: 'peers', description: 'who is online right now' },
  { name: 'Exit', value: 'exit', description: 'leave sealdrop' },
];

const ACTIONS: Record<Exclude<Entry, 'exit'>, (c: MenuContext) => Promise<void>> = {
  send: sendAction, receive: receiveAction, get: getAction, peers: peersAction,
};

/** Resolves when the person leaves (Exit or Ctrl-C at a prompt); throws only what the CLI should report. */
export async function menuCommand(r: Reporter, g: GlobalFlags): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new SealdropError('ERR_BAD_INPUT', 'no command given and not on a terminal: run `sealdrop --help`');
  }
  if (g.json) throw new SealdropError('ERR_BAD_INPUT', 'the interactive menu has no --json form: give a command (see `sealdrop --help`)');
  try {
    const home = homeOf(g);
    const account = await ensureAccount(r, g, home);
    r.print(line`${bold('sealdrop')} ${dim('—')} ${cyan(account.id)} ${dim(`@ ${account.server}`)}`);
    await menuLoop({ r, home, account, strict: g.strict });
  } catch (err) {
    if (!isPromptExit(err)) throw err;
  }
  r.endProgress();
  r.print(dim('Goodbye.'));
}

async function menuLoop(c: MenuContext): Promise<void> {
  for (;;) {
    const entry = await select<Entry>({ message: 'What would you like to do?', choices: ENTRIES });
    if (entry === 'exit') return;
    try {
      await ACTIONS[entry](c);
    } catch (err) {
      if (isPromptExit(err)) throw err;
      // A failed action is reported and the menu comes back; only leaving ends the program.
      c.r.endProgress();
      c.r.error(toSealdropError(err));
    }
  }
}

/** The stored account; on first run (nothing stored) asks for it and logs in the way `sealdrop login` does. */
async function ensureAccount(r: Reporter, g: GlobalFlags, home: Home): Promise<Account> {
  const stored = await home.readCredentials();
  let server = g.server ?? process.env.SEALDROP_SERVER ?? stored.server;
  let id = g.id ?? process.env.SEALDROP_ID ?? stored.id;
  const secret = process.env.SEALDROP_TOTP_SECRET ?? stored.secret;
  if (server && id && (secret || g.code)) return resolveAccount(home, { server: g.server, id: g.id, code: g.code });

  r.info(`no account set up in ${home.dir} yet: let's log in (your rendezvous operator gives you the server URL, your ID and a TOTP secret)`);
  for (;;) {
    const typedUrl = normalizeServerUrl(await input({ message: 'Rendezvous server URL:', default: server, validate: validUrl }));
    if (typedUrl.note) r.info(typedUrl.note);
    server = typedUrl.url;
    id = await askId('Your ID:', id);
    const typed = await password({
      message: 'TOTP secret (from the operator; any case, spaces allowed):', mask: '*',
      validate: (v) => isBase32Secret(normalizeSecret(v)) || 'the secret is base32 (letters A-Z and digits 2-7)',
    });
    try {
      await loginCommand(r, { ...g, server, id }, { secret: normalizeSecret(typed) });
      return await resolveAccount(home, { server, id, code: g.code });
    } catch (err) {
      if (isPromptExit(err)) throw err;
      r.error(toSealdropError(err));
      r.info('please try again (Ctrl-C leaves)');
    }
  }
}

function validUrl(v: string): true | string {
  try {
    normalizeServerUrl(v);
    return true;
  } catch (err) {
    return (err as Error).message;
  }
}
