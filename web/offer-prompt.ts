/**
 * The consent prompt for an incoming transfer: who, what (names made printable, put in as
 * text only), the verification code, and Accept / Decline, with "Save to…" beside them for one
 * loose file where the browser can save into a file the person picks (save-target.ts). A
 * cancelled picker leaves the prompt up: the person can still accept, decline or pick again.
 */
import type { Manifest } from '../peer/link/control-messages.js';
import { printable } from '../shared/printable.js';
import type { PageLink } from './page-link.js';
import type { Consent } from './page-transfer.js';
import { pickSaveTarget, savable } from './save-target.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Sizes as the transfer box shows them (an offer of a TiB or more, in TiB). */
export function mib(n: number): string {
  return n < 1024 ** 2 ? `${n} bytes` : n < 1024 ** 4 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 4).toFixed(1)} TiB`;
}

export function askConsent(link: PageLink, manifest: Manifest, say: (text: string) => void, fail: (err: unknown) => void, lines?: string[]): Promise<Consent> {
  const files = manifest.files;
  $('offer').hidden = false;
  $('offer-from').textContent = link.peer;
  $('offer-sas').textContent = link.sas;
  $('offer-files').replaceChildren(...(lines ?? files.map((f) => `${f.text ? 'a message' : printable(f.name)} (${mib(f.size)})`)).map((line) => Object.assign(document.createElement('li'), { textContent: line })));
  const save = $<HTMLButtonElement>('offer-save');
  save.hidden = !savable(manifest);
  say(`${link.peer} offers ${files.length} file(s); compare the verification code, then accept or decline`);
  return new Promise((resolve) => {
    let answered = false;
    const answer = (consent: Consent) => {
      answered = true;
      $('offer').hidden = true;
      save.hidden = true;
      resolve(consent);
    };
    $('offer-accept').onclick = () => answer(true);
    $('offer-decline').onclick = () => answer(false);
    save.onclick = async () => {
      try {
        const target = await pickSaveTarget(files[0]!.name.split('/').pop() || 'file');
        if (!target) return say(`no file was chosen: accept, decline, or choose where to save it`);
        if (answered) { await target.discard(); return; } // answered meanwhile: the picked file is not wanted
        say(`receiving into ${target.name}…`);
        answer(target);
      } catch (err) {
        fail(err); // the prompt stays: the person can still accept or decline
      }
    };
  });
}
