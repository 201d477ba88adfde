// The async iterator every trickle reader offers: yield next() until it returns null, then finish.
export async function* untilNull<T>(next: () => Promise<T | null>, finish: () => void): AsyncGenerator<T> {
  try {
    for (;;) {
      const item = await next();
      if (item === null) return;
      yield item;
    }
  } finally {
    finish();
  }
}
