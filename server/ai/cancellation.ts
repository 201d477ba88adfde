// A batch AI request's cancellation when its client goes away. AbortController does the
// same through an EventTarget, with objects and listeners per request; this is a field
// and one callback (the attempt in flight), on a path taken thousands of times a second.

export class Cancellation {
  reason: string | undefined;
  private handler: ((reason: string) => void) | undefined;

  get cancelled(): boolean {
    return this.reason !== undefined;
  }

  cancel(reason: string): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    const h = this.handler;
    this.handler = undefined;
    h?.(reason);
  }

  /** Runs `fn` on cancel (at once if already cancelled) until the returned function is called. One at a time. */
  onCancel(fn: (reason: string) => void): () => void {
    if (this.reason !== undefined) {
      fn(this.reason);
      return () => {};
    }
    this.handler = fn;
    return () => {
      if (this.handler === fn) this.handler = undefined;
    };
  }
}
