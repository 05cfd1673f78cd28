/** CreditWindow: the sender keeps at most FLOW_WINDOW bytes beyond what the receiver reports written. */
import { FLOW_WINDOW } from '../../shared/constants.js';

export class CreditWindow {
  sent = 0;
  private credited = 0;
  private wake?: () => void;
  private error?: Error;
  /** Rejects once the window failed (the reply reader stopped). */
  readonly failed: Promise<never>;
  private rejectFailed!: (err: Error) => void;

  constructor(private readonly window = FLOW_WINDOW) {
    this.failed = new Promise<never>((_, reject) => { this.rejectFailed = reject; });
    this.failed.catch(() => {});
  }

  async reserve(bytes: number): Promise<void> {
    while (this.sent + bytes - this.credited > this.window) {
      if (this.error) throw this.error;
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
    if (this.error) throw this.error;
    this.sent += bytes;
  }

  credit(bytes: number): void {
    if (bytes > this.credited) this.credited = bytes;
    this.wake?.();
  }

  fail(err: Error): void {
    this.error = err;
    this.rejectFailed(err);
    this.wake?.();
  }
}
