/**
 * The cluster section of bench/RESULTS.md: written by bench/cluster-relay.ts between two
 * markers, and kept as it is when bench/run.ts writes the rest of the file.
 */
export const MARK_START = '<!-- cluster bench: written by bench/cluster-relay.ts -->';
export const MARK_END = '<!-- /cluster bench -->';

/** The section with its markers, or '' when `markdown` has none. */
export function clusterSection(markdown: string): string {
  const at = markdown.indexOf(MARK_START);
  const end = markdown.indexOf(MARK_END);
  return at >= 0 && end > at ? markdown.slice(at, end + MARK_END.length) + '\n' : '';
}

export function withoutClusterSection(markdown: string): string {
  const section = clusterSection(markdown);
  return section ? markdown.replace(section.trimEnd(), '').replace(/\n{3,}$/, '\n') : markdown;
}
