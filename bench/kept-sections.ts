/**
 * Sections of bench/RESULTS.md that other scripts write between markers: the cluster section
 * (bench/cluster-relay.ts) and the browser page's (bench/browser.ts). Each script replaces its own
 * in place; bench/run.ts, which writes the rest of the file, keeps them all as they are.
 */
export const KEPT = { cluster: 'bench/cluster-relay.ts', browser: 'bench/browser.ts' } as const;
export type KeptSection = keyof typeof KEPT;

export function marks(name: KeptSection): { start: string; end: string } {
  return { start: `<!-- ${name} bench: written by ${KEPT[name]} -->`, end: `<!-- /${name} bench -->` };
}

/** The section with its markers, or '' when `markdown` has none. */
export function sectionOf(markdown: string, name: KeptSection): string {
  const { start, end } = marks(name);
  const at = markdown.indexOf(start);
  const to = markdown.indexOf(end, at);
  return at >= 0 && to > at ? markdown.slice(at, to + end.length) : '';
}

/** Every kept section of `markdown`, in the order they stand there, ready to append ('' when none). */
export function keptSections(markdown: string): string {
  const found = (Object.keys(KEPT) as KeptSection[])
    .map((name) => ({ at: markdown.indexOf(marks(name).start), text: sectionOf(markdown, name) }))
    .filter((s) => s.text !== '')
    .sort((a, b) => a.at - b.at);
  return found.map((s) => s.text + '\n').join('\n');
}

/** `markdown` with the section `name` replaced by `body` (which holds no markers), in place, or appended. */
export function withSection(markdown: string, name: KeptSection, body: string): string {
  const { start, end } = marks(name);
  const section = `${start}\n${body.replace(/\n*$/, '\n')}${end}`;
  const old = sectionOf(markdown, name);
  if (old) return markdown.replace(old, () => section);
  return `${markdown.replace(/\n*$/, '\n\n')}${section}\n`;
}
