#!/usr/bin/env node
/** The `sealdrop` command: parse flags, call one library function, print, exit. */
import { Command, Option } from 'commander';
import { toSealdropError } from '../shared/errors.js';
import { exitCodeFor, flushOutput, Reporter } from './terminal/cli-output.js';
import type { GlobalFlags } from './terminal/commands.js';
import { settleDirectTransports } from './link/teardowns.js';

// Each command loads what it needs when it runs: wrtc, Socket.IO and the prompts
// are most of a second's start-up, and `fingerprint` or `--help` need none of them.
const commands = () => import('./terminal/commands.js');
const transfers = () => import('./terminal/transfer-commands.js');

const program = new Command('sealdrop')
  .description('End-to-end encrypted file transfer between people, by ID')
  .option('--server <url>', 'rendezvous URL (env SEALDROP_SERVER)')
  .option('--id <id>', 'your account ID (env SEALDROP_ID)')
  .option('--home <dir>', 'config and keys folder (env SEALDROP_HOME)')
  .option('--code <code>', 'one TOTP code from your authenticator app')
  .option('--json', 'one JSON object per line on stdout')
  .option('--quiet', 'print only errors')
  .option('--strict', 'refuse peers whose key is not pinned yet')
  .option('--verify', 'send and write nothing until you confirm both sides show the same verification code')
  .showHelpAfterError();

const flags = (): GlobalFlags => program.opts<GlobalFlags>();
const reporter = () => new Reporter({ json: !!flags().json, quiet: !!flags().quiet });

function run(action: (r: Reporter, ...args: any[]) => Promise<void>) {
  return async (...args: unknown[]) => {
    const r = reporter();
    let status = 0;
    try {
      await action(r, ...args);
    } catch (err) {
      const e = toSealdropError(err);
      r.error(e);
      status = exitCodeFor(e.code);
    }
    await settleDirectTransports();
    await flushOutput(); // every --json line complete before exit, however large
    process.exit(status);
  };
}

program.command('login')
  .description('store the rendezvous URL, your ID and TOTP secret (mode 0600)')
  .option('--secret <base32>', 'TOTP secret from the operator (asked for on a terminal if missing)')
  .action(run(async (r, o) => (await commands()).loginCommand(r, flags(), o)));

program.command('send')
  .description('send files and folders to a peer')
  .argument('[paths...]', 'files and folders; - reads standard input')
  .requiredOption('--to <id>', 'the receiving peer')
  .option('--text <message>', 'send a short text message instead of files')
  .addOption(new Option('--relay', 'skip the direct path; go through the rendezvous relay').conflicts('directOnly'))
  .option('--direct-only', 'never use the relay; fail if no direct path exists')
  .option('--timeout <seconds>', 'how long to try the direct path before the relay', '5')
  .action(run(async (r, paths, o) => (await transfers()).sendCommand(r, flags(), paths, o)));

program.command('receive')
  .description('stay online and accept transfers')
  .option('--dir <dir>', 'where received files go', '.')
  .option('--yes', 'accept every transfer without asking')
  .option('--once', 'exit after one transfer')
  .option('--ask-timeout <seconds>', 'decline an offer nobody answers within this time (at most 240)', '180')
  .option('--share <dir>', 'also let peers list and fetch the files under this folder (read-only)')
  .option('--share-allow <ids>', 'only these peers (comma-separated) may list or fetch')
  .action(run(async (r, o) => (await transfers()).receiveCommand(r, flags(), o)));

program.command('ls')
  .description('list what a peer shares')
  .argument('<id>')
  .action(run(async (r, id) => (await transfers()).lsCommand(r, flags(), id)));

program.command('get')
  .description('fetch a shared file or folder from a peer')
  .argument('<id>').argument('<name>', 'a name from `sealdrop ls`')
  .option('--dir <dir>', 'where fetched files go', '.')
  .option('--relay', 'skip the direct path; go through the rendezvous relay')
  .option('--timeout <seconds>', 'how long to try the direct path before the relay', '5')
  .action(run(async (r, id, name, o) => (await transfers()).getCommand(r, flags(), id, name, o)));

program.command('peers')
  .description('who is online')
  .action(run(async (r) => (await commands()).peersCommand(r, flags())));

program.command('fingerprint')
  .description('your identity key fingerprint, to compare out of band')
  .action(run(async (r) => (await commands()).fingerprintCommand(r, flags())));

program.command('trust')
  .description("pin a peer's key after checking its fingerprint out of band")
  .argument('<id>').argument('<fingerprint>')
  .action(run(async (r, id, fp) => (await commands()).trustCommand(r, flags(), id, fp)));

// No command: the interactive menu (on a terminal only). Only then, so a mistyped command stays an error.
if (program.parseOptions(process.argv.slice(2)).operands.length === 0) program.action(run(async (r) => (await import('./terminal/menu.js')).menuCommand(r, flags())));

// The last resort too goes through the Reporter, so even a crash cannot put a peer's text on the terminal raw.
const crashed = (err: unknown) => {
  reporter().error(toSealdropError(err));
  void flushOutput().then(() => process.exit(1));
};
process.on('uncaughtException', crashed);
process.on('unhandledRejection', crashed);

program.parseAsync(process.argv).catch(async (err) => {
  reporter().error(toSealdropError(err));
  await flushOutput();
  process.exit(1);
});
