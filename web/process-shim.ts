/** The little of Node's `process` that simple-peer's stream and debug dependencies look at, in the page. */
export const process = {
  env: {} as Record<string, string | undefined>,
  browser: true,
  version: '',
  nextTick: (fn: (...args: unknown[]) => void, ...args: unknown[]) => queueMicrotask(() => fn(...args)),
};
