/**
 * The browser Origin allow-list. Browsers send `Origin` on every WebSocket handshake
 * and let any page open one, so without this check any page a victim visits could
 * burn guesses at (and lock) accounts from the victim's address. Node clients send no
 * Origin and are always let through; a browser origin must be listed
 * (`serve --allow-origin`). Origins compare as URL origins: scheme, host, port.
 */
import { SealdropError } from '../../shared/errors.js';

/** `https://Example.org:443/` → `https://example.org`; throws ERR_CONFIG for anything that is not an http(s) origin. */
export function normalizeOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SealdropError('ERR_CONFIG', `--allow-origin ${JSON.stringify(value)} is not a URL origin (expected e.g. https://example.org)`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.pathname.length > 1 || url.search || url.hash || url.username) {
    throw new SealdropError('ERR_CONFIG', `--allow-origin ${JSON.stringify(value)} must be an http(s) origin: scheme, host and port only`);
  }
  return url.origin;
}

export class OriginPolicy {
  private readonly allowed: Set<string>;

  constructor(origins: readonly string[] = []) {
    this.allowed = new Set(origins.map(normalizeOrigin));
  }

  /** Admits one more origin: the server's own, once it listens, when it serves the web app. */
  allow(origin: string): void {
    this.allowed.add(normalizeOrigin(origin));
  }

  /** True when the handshake may go on: no Origin header, or a listed one. */
  admits(origin: string | string[] | undefined): boolean {
    if (origin === undefined) return true;
    if (Array.isArray(origin)) return false;
    try {
      return this.allowed.has(new URL(origin).origin);
    } catch {
      return false; // "null" (sandboxed pages, file://) and garbage
    }
  }
}
