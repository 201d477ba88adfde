// A body (an undici answer's, a trickle segment's) read whole, up to a limit: an upstream (orchestrator, signer, runner)
// that sends more than any real answer of its kind is cut off as soon as it passes the limit,
// instead of being held in memory first and measured after.
export class BodyTooLargeError extends Error {}

/** An undici answer's body, or any Node readable stream of bytes. */
export type BoundedSource = AsyncIterable<unknown> & { destroy(): unknown };

/** The body's bytes; BodyTooLargeError (and the body destroyed) once more than `limit` bytes came. */
export async function readBounded(body: BoundedSource, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n > limit) {
      body.destroy();
      throw new BodyTooLargeError(`${what}: answer over ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks, n);
}

/** readBounded as UTF-8 text. */
export async function readBoundedText(body: BoundedSource, limit: number, what: string): Promise<string> {
  return (await readBounded(body, limit, what)).toString("utf8");
}
