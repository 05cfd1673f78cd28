#!/usr/bin/env node
/** The `sealdrop` command: parse flags, call one library function, print, exit. */
import { readFileSync } from 'node:fs';
import chalk from 'chalk';
import { Command, CommanderError, Option } from 'commander';
import { Cancelled, exitCodeFor, flushOutput, Reporter } from './terminal/cli-output.js';
import type { GlobalFlags } from './terminal/commands.js';
import { forPerson } from './terminal/error-words.js';
import { normalizeServerUrl } from './terminal/lenient-input.js';
import { settleDirectTransports } from './link/teardowns.js';

// Each command loads what it needs when it runs: wrtc, Socket.IO and the prompts
// are most of a second's start-up, and `fingerprint` or `--help` need none of them.
const commands = () => import('./terminal/commands.js');
const transfers = () => import('./terminal/transfer-commands.js');

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
/** Exit status for options commander could not parse (OPERATING.md: 2 for bad options). */
const EXIT_USAGE = 2;

// NO_COLOR (https://no-color.org) and --no-color: chalk reads only the flag, so both are applied here, for the prompts too.
// Otherwise a terminal gets colors even where a CI variable is set (chalk turns them off for any `CI`
// it does not know, on a terminal too); FORCE_COLOR still decides when it is given.
if ((process.env.NO_COLOR ?? '') !== '' || process.argv.includes('--no-color')) {
  chalk.level = 0;
  process.env.NO_COLOR = '1';
} else if (chalk.level === 0 && process.stderr.isTTY && process.env.TERM !== 'dumb' && process.env.FORCE_COLOR === undefined) {
  chalk.level = 1;
}

/** "Examples:" after a command's help, each line a command a person can copy. */
const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;

const program = new Command('sealdrop')
  .description('End-to-end encrypted file transfer between people, by ID')
  .version(VERSION, '-V, --version', 'print the version and exit')
  .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
  // Commander exits 1 for a bad flag; scripts tell usage errors apart by 2 (errors of ours map in exitCodeFor).
  .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE))
  .option('--server <url>', 'rendezvous URL (env SEALDROP_SERVER); https:// is assumed, http:// for localhost')
  .option('--id <id>', 'your account ID (env SEALDROP_ID)')
  .option('--home <dir>', 'config and keys folder (env SEALDROP_HOME)')
  .option('--code <code>', 'one TOTP code from your authenticator app')
  .option('--ca <file>', 'trust the CA certificates in this PEM file for an https rendezvous ("ca" in config.json)')
  .option('--json', 'one JSON object per line on stdout')
  .option('--quiet', 'print only errors')
  .option('--no-color', 'no colors (also env NO_COLOR)')
  .option('--strict', 'refuse peers whose key is not pinned yet')
  .option('--verify', 'send and write nothing until you confirm both sides show the same verification code')
  .showHelpAfterError('(add --help for usage and examples)')
  .addHelpText('after', examples(
    'sealdrop login --server rendezvous.example.org:50000 --id alice',
    'sealdrop receive --dir ~/Downloads',
    'sealdrop send report.pdf photos/ --to bob',
    'sealdrop send --text "the door code is 4711" --to bob',
    'sealdrop                       (no command, on a terminal: the interactive menu)',
  ) + '\nExit status: 0 when everything arrived and verified; 2 bad usage, 3 login, 4 peer or network,\n5 security check, 6 files or disk, 1 anything else. Errors and what to do: docs/ERRORS.md\n');

let serverNote: string | undefined;
/** The global flags, the server URL completed as normalizeServerUrl says (the note is printed once). */
const flags = (): GlobalFlags => {
  const g = program.opts<GlobalFlags & { color?: boolean }>();
  const server = g.server ?? process.env.SEALDROP_SERVER;
  if (server !== undefined) {
    const normalized = normalizeServerUrl(server);
    if (g.server !== undefined) g.server = normalized.url; else process.env.SEALDROP_SERVER = normalized.url;
    serverNote ??= normalized.note;
  }
  return g;
};
const reporter = () => {
  const g = program.opts<GlobalFlags>();
  return new Reporter({ json: !!g.json, quiet: !!g.quiet });
};

function run(action: (r: Reporter, ...args: any[]) => Promise<void>) {
  return async (...args: unknown[]) => {
    const r = reporter();
    let status = 0;
    try {
      flags();
      if (serverNote) r.info(serverNote);
      await action(r, ...args);
    } catch (err) {
      if (err instanceof Cancelled) {
        // Ctrl-C: said as what happened and what to do next, not as an error; 130 as for any SIGINT.
        r.warn(err.message);
        r.event('cancelled', { message: err.message });
        status = 130;
      } else {
        const e = forPerson(err);
        r.error(e);
        status = exitCodeFor(e.code);
      }
    }
    await settleDirectTransports();
    await flushOutput(); // every --json line complete before exit, however large
    process.exit(status);
  };
}

program.command('login')
  .description('store the rendezvous URL, your ID and TOTP secret in the home folder (mode 0600), and check they work')
  .option('--secret <base32>', 'TOTP secret from the operator, in any case, spaces allowed (asked for on a terminal if missing)')
  .addHelpText('after', examples(
    'sealdrop login --server https://rendezvous.example.org:50000 --id alice --secret "JBSW Y3DP EHPK 3PXP …"',
    'sealdrop login --server localhost:50000 --id alice        (asks for the secret)',
    'sealdrop login --server https://rv.internal --id alice --ca ~/company-ca.pem',
  ))
  .action(run(async (r, o) => (await commands()).loginCommand(r, flags(), o)));

program.command('send')
  .description('send files and folders (or a text message) to a peer that runs `sealdrop receive`')
  .argument('[paths...]', 'files and folders; - reads standard input')
  .requiredOption('--to <id>', 'the receiving peer')
  .option('--text <message>', 'send a short text message instead of files: shown to the receiver, never saved')
  .addOption(new Option('--relay', 'skip the direct path; go through the rendezvous relay').conflicts('directOnly'))
  .option('--direct-only', 'never use the relay; fail if no direct path exists')
  .option('--timeout <seconds>', 'how long to try the direct path before the relay', '5')
  .addHelpText('after', examples(
    'sealdrop send report.pdf --to bob',
    'sealdrop send photos/ notes.md --to bob --relay',
    'sealdrop send --text "see you at 6" --to bob',
    'tar c project | sealdrop send - --to bob',
  ) + '\nInterrupted? Send the same files again: the transfer resumes where it stopped.\n')
  .action(run(async (r, paths, o) => (await transfers()).sendCommand(r, flags(), paths, o)));

program.command('receive')
  .description('stay online and accept transfers (asks before each one unless --yes)')
  .option('--dir <dir>', 'where received files go', '.')
  .option('--yes', 'accept every transfer without asking')
  .option('--once', 'exit after one transfer')
  .option('--replace', 'take over from another `sealdrop receive` for your ID (it is told, and stops)')
  .option('--ask-timeout <seconds>', 'decline an offer nobody answers within this time (at most 240)', '180')
  .option('--share <dir>', 'also let peers list and fetch the files under this folder (read-only)')
  .option('--share-allow <ids>', 'only these peers (comma-separated) may list or fetch')
  .addHelpText('after', examples(
    'sealdrop receive --dir ~/Downloads',
    'sealdrop receive --dir inbox --yes --once',
    'sealdrop receive --share ~/public --share-allow alice,carol',
  ))
  .action(run(async (r, o) => (await transfers()).receiveCommand(r, flags(), o)));

program.command('ls')
  .description('list what a peer shares (it runs `sealdrop receive --share DIR`)')
  .argument('<id>', 'the sharing peer')
  .addHelpText('after', examples('sealdrop ls bob'))
  .action(run(async (r, id) => (await transfers()).lsCommand(r, flags(), id)));

program.command('get')
  .description('fetch a shared file or folder from a peer')
  .argument('<id>', 'the sharing peer').argument('<name>', 'a name from `sealdrop ls`')
  .option('--dir <dir>', 'where fetched files go', '.')
  .option('--relay', 'skip the direct path; go through the rendezvous relay')
  .option('--timeout <seconds>', 'how long to try the direct path before the relay', '5')
  .addHelpText('after', examples('sealdrop get bob notes.md', 'sealdrop get bob photos/2024 --dir ~/Pictures'))
  .action(run(async (r, id, name, o) => (await transfers()).getCommand(r, flags(), id, name, o)));

program.command('peers')
  .description('who is online (peers running `sealdrop receive` can be sent to)')
  .addHelpText('after', examples('sealdrop peers', 'sealdrop peers --json'))
  .action(run(async (r) => (await commands()).peersCommand(r, flags())));

program.command('fingerprint')
  .description('your identity key fingerprint, to compare out of band')
  .addHelpText('after', examples('sealdrop fingerprint        (read it to the people who will `sealdrop trust` you)'))
  .action(run(async (r) => (await commands()).fingerprintCommand(r, flags())));

program.command('trust')
  .description("pin a peer's key after checking its fingerprint out of band")
  .argument('<id>', 'the peer').argument('<fingerprint>', 'what `sealdrop fingerprint` shows on its side')
  .addHelpText('after', examples('sealdrop trust bob 3f2a9c…        (after bob read his fingerprint to you)'))
  .action(run(async (r, id, fp) => (await commands()).trustCommand(r, flags(), id, fp)));

// No command: the interactive menu (on a terminal only). Only then, so a mistyped command stays an error.
if (program.parseOptions(process.argv.slice(2)).operands.length === 0) program.action(run(async (r) => (await import('./terminal/menu.js')).menuCommand(r, flags())));

// The last resort too goes through the Reporter, so even a crash cannot put a peer's text on the terminal raw.
const crashed = (err: unknown) => {
  reporter().error(forPerson(err));
  void flushOutput().then(() => process.exit(1));
};
process.on('uncaughtException', crashed);
process.on('unhandledRejection', crashed);

program.parseAsync(process.argv).catch(async (err) => {
  const e = forPerson(err);
  reporter().error(e);
  await flushOutput();
  process.exit(exitCodeFor(e.code));
});
