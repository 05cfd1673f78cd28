/**
 * What a person is told to do about each error. docs/ERRORS.md is this table in
 * prose, and test/cli-words.test.ts checks that the two say the same.
 *
 * An error may carry a more precise next step of its own (SealdropError.hint,
 * e.g. "pass --ca FILE" for an untrusted certificate); this table is the fallback.
 */
import { SealdropError, toSealdropError, type ErrorCode } from '../../shared/errors.js';

export const NEXT_STEPS: Record<ErrorCode, string> = {
  ERR_AUTH: 'the ID or secret is not accepted (a revoked account reads the same): check them with your operator, then run `sealdrop login --server URL --id ID` again',
  ERR_AUTH_REPLAY: 'that code was used already: wait for the next one (codes change every 30 s)',
  ERR_THROTTLED: 'too many tries: wait as long as the message says, then try again',
  ERR_LOCKED: 'wait 15 minutes, or ask your operator to look at the account',
  ERR_CONFIG: 'fix the setting it names (a flag, the environment, or config.json in the home folder), or run `sealdrop login` again',
  ERR_BAD_INPUT: 'see `sealdrop help COMMAND` for what the command takes',
  ERR_PEER_OFFLINE: 'check the spelling of the ID; the peer must be running `sealdrop receive` (`sealdrop peers` shows who is)',
  ERR_REJECTED: 'ask the other person, then send again when they are ready to accept',
  ERR_BUSY: 'try again in a minute: a peer takes one transfer at a time',
  ERR_PEER_GONE: 'send again: the transfer resumes from the last verified chunk',
  ERR_TIMEOUT: 'check that both sides are online, then try again',
  ERR_NO_DIRECT: 'leave out --direct-only so the relay can carry the transfer (it stays end-to-end encrypted)',
  ERR_PROTOCOL: 'make sure both sides run the same sealdrop version; if it happens again, the rendezvous or the other peer misbehaves',
  ERR_DECRYPT: 'nothing unverified was saved; send again, and if it happens again, something on the way alters the data',
  ERR_INTEGRITY: 'nothing unverified was saved; send again, and if it happens again, something on the way alters the data',
  ERR_KEY_CHANGED: 'ask the peer for `sealdrop fingerprint` over another channel, then run `sealdrop trust ID FINGERPRINT`',
  ERR_UNTRUSTED: 'check the peer\'s fingerprint over another channel, then run `sealdrop trust ID FINGERPRINT`',
  ERR_IO: 'check that the path exists and that you may read (or write) it',
  ERR_SPACE: 'free some space (or choose another folder with --dir) and send again: it resumes',
  ERR_STORE: 'the rendezvous cannot use its account store: tell your operator',
  ERR_RELAY_LIMIT: 'try again later, or where a direct path works; your operator sets the relay limits',
  ERR_NOT_FOUND: 'check the name or path (`sealdrop ls ID` lists what a peer shares)',
  ERR_EXISTS: 'choose another name, or remove the existing one first',
  ERR_CONNECT: 'check the server URL, that the rendezvous is running, and your network',
  ERR_INTERNAL: 'this is a bug in sealdrop: please report it with the command you ran',
};

export function nextStepFor(e: SealdropError): string {
  return e.hint ?? NEXT_STEPS[e.code];
}

/** System errors (EACCES, ENOENT, …) as words, so none reaches a person as ERR_INTERNAL. */
const SYSTEM_WORDS: Record<string, [ErrorCode, string]> = {
  EACCES: ['ERR_IO', 'permission denied'],
  EPERM: ['ERR_IO', 'not permitted'],
  ENOENT: ['ERR_NOT_FOUND', 'no such file or folder'],
  ENOTDIR: ['ERR_IO', 'a part of the path is not a folder'],
  EISDIR: ['ERR_IO', 'is a folder, not a file'],
  ENOSPC: ['ERR_SPACE', 'no space left on the device'],
  EDQUOT: ['ERR_SPACE', 'disk quota exceeded'],
  EROFS: ['ERR_IO', 'read-only file system'],
  EMFILE: ['ERR_IO', 'too many open files'],
  ELOOP: ['ERR_IO', 'too many symbolic links'],
  EEXIST: ['ERR_EXISTS', 'already exists'],
  EIO: ['ERR_IO', 'input/output error'],
};

/** Any thrown value as an error a person can act on. */
export function forPerson(err: unknown): SealdropError {
  const e = toSealdropError(err);
  if (e.code !== 'ERR_INTERNAL') return e;
  const sys = (err instanceof SealdropError ? err.cause : err) as NodeJS.ErrnoException | undefined;
  const words = typeof sys?.code === 'string' ? SYSTEM_WORDS[sys.code] : undefined;
  if (words) {
    const where = sys?.path ? `${sys.path}: ` : '';
    return new SealdropError(words[0], `${sys?.syscall === 'scandir' ? 'cannot read the folder ' : 'cannot use '}${where}${words[1]}`, { cause: err });
  }
  // wrtc's words for a data channel that closed under us: the peer left.
  if (/RTCDataChannel|readyState is not 'open'/.test(e.message)) return new SealdropError('ERR_PEER_GONE', 'the connection to the other peer was lost (it left or its network went away)', { cause: err });
  return e;
}
