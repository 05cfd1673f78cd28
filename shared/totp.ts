/**
 * RFC 6238 TOTP through otplib, as pure functions: the time is always passed in.
 * SHA-1, 6 digits, 30-second steps, base32 secrets (what authenticator apps use).
 */
import { authenticator, hotp } from 'otplib';
import { TOTP_DIGITS, TOTP_STEP_SECONDS, TOTP_WINDOW } from './constants.js';

const base = authenticator.clone({ step: TOTP_STEP_SECONDS, digits: TOTP_DIGITS, window: TOTP_WINDOW });

export function stepAt(nowMs: number): number {
  return Math.floor(nowMs / 1000 / TOTP_STEP_SECONDS);
}

/** A fresh base32 secret from 20 random bytes supplied by the caller. */
export function secretFromBytes(bytes: Uint8Array): string {
  return authenticator.encode(Buffer.from(bytes).toString('hex')) as string;
}

export function isBase32Secret(secret: string): boolean {
  return /^[A-Z2-7]{16,128}=*$/.test(secret);
}

export function totpCode(secret: string, nowMs: number, digits = TOTP_DIGITS): string {
  const key = authenticator.decode(secret);
  return hotp.clone({ digits, encoding: 'hex' as never }).generate(key, stepAt(nowMs));
}

/** The time step a code is valid for (within ±window), or null. */
export function matchStep(secret: string, code: string, nowMs: number): number | null {
  const delta = base.clone({ epoch: nowMs }).checkDelta(code, secret);
  return delta === null ? null : stepAt(nowMs) + delta;
}

export function otpauthUri(accountId: string, secret: string, issuer = 'sealdrop'): string {
  return base.keyuri(accountId, issuer, secret);
}
