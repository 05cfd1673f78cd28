/**
 * Input taken as people type it, where only one reading makes sense: a server
 * URL without a scheme, a TOTP secret in lower case or in groups of four.
 * Whatever is filled in is said in the output, never guessed silently.
 */
import { SealdropError } from '../../shared/errors.js';
export { normalizeSecret } from '../session/login.js';

const LOCAL = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/i;

export interface ServerUrl { url: string; note?: string }

/**
 * `rendezvous.example.org:50000` → https://…, `localhost:50000` → http://… (a
 * local server rarely has a certificate); a URL with a scheme stays as it is,
 * but only http and https are accepted.
 */
export function normalizeServerUrl(text: string): ServerUrl {
  const typed = text.trim();
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(typed);
  const hostPart = typed.split('/')[0]!;
  const candidate = hasScheme ? typed : `${LOCAL.test(hostPart) ? 'http' : 'https'}://${typed}`;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw new SealdropError('ERR_BAD_INPUT', `"${typed}" is not a server URL (expected e.g. https://rendezvous.example.org:50000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SealdropError('ERR_BAD_INPUT', `the server URL must start with https:// or http://, not ${url.protocol}//`);
  }
  if (!url.hostname) throw new SealdropError('ERR_BAD_INPUT', `"${typed}" names no host (expected e.g. https://rendezvous.example.org:50000)`);
  const shown = url.pathname === '/' && !typed.endsWith('/') ? url.href.replace(/\/$/, '') : url.href;
  return hasScheme ? { url: shown } : { url: shown, note: `no scheme in "${typed}": using ${shown}` };
}
