/**
 * WebRTC connections still being torn down. wrtc tears down on its own threads,
 * and exiting the process in the middle of that can crash it, so the CLI awaits
 * settleDirectTransports() before it exits. Kept apart from direct-transport.ts so
 * that commands which never open a connection do not load wrtc to ask.
 */
const teardowns = new Set<Promise<void>>();

/** Registers a promise that resolves once one connection is fully closed. */
export function trackTeardown(gone: Promise<void>): void {
  teardowns.add(gone);
  gone.then(() => teardowns.delete(gone));
}

/** Resolves once every WebRTC connection of this process is fully closed, or after limitMs. */
export async function settleDirectTransports(limitMs = 3_000): Promise<void> {
  const deadline = new Promise<void>((resolve) => setTimeout(resolve, limitMs).unref());
  while (teardowns.size > 0) {
    if ((await Promise.race([Promise.all([...teardowns]).then(() => 'done'), deadline.then(() => 'late')])) === 'late') return;
  }
}
