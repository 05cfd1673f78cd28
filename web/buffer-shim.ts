/** The shared modules use Node's Buffer API; in the page it is the `buffer` package (esbuild injects this). */
export { Buffer } from 'buffer';
