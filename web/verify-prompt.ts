/**
 * The page's `--verify`: the setting "confirm the verification code before anything moves",
 * and the question itself. The agreement is the CLI's own (channel.agree and verifyCodes in
 * peer/link/verification.ts, run by page-link.ts); this is only how the person is asked: the
 * code and the peer shown, Yes or No. Every string from outside goes in through textContent.
 */
import type { ConfirmCode } from '../peer/link/verification.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Whether this page's person confirms the code of every transfer (kept in localStorage). */
export function verifySetting(): boolean {
  return $<HTMLInputElement>('verify-codes').checked;
}

export function rememberVerifySetting(): void {
  const box = $<HTMLInputElement>('verify-codes');
  box.checked = localStorage.getItem('sealdrop.verify') === '1';
  box.addEventListener('change', () => localStorage.setItem('sealdrop.verify', box.checked ? '1' : '0'));
}

/** Shows the code and asks; the answer is the click. An abort (their "no", the session gone) takes the question away. */
export const confirmInPage: ConfirmCode = (sas, signal, peer) => new Promise<boolean>((resolve) => {
  const box = $('verify');
  $('verify-peer').textContent = peer;
  $('verify-sas').textContent = sas;
  box.hidden = false;
  let answered = false;
  const done = (yes: boolean) => {
    if (answered) return;
    answered = true;
    box.hidden = true;
    $('verify-yes').onclick = null;
    $('verify-no').onclick = null;
    if (yes) $('status').textContent = `you confirmed the code ${sas}; waiting for ${peer} if they are asked too…`;
    resolve(yes);
  };
  $('verify-yes').onclick = () => done(true);
  $('verify-no').onclick = () => done(false);
  signal.addEventListener('abort', () => done(false), { once: true });
  $('status').textContent = `compare the verification code with ${peer} before anything moves`;
});
