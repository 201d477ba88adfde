// The HLS audience of a stream: distinct clients (address and user agent) that read one of its
// media playlists within the window (hlsViewerWindow, 30 s by default). Players reload a live
// playlist about every target duration, so a client unseen for the whole window has left. An
// estimate: clients behind one NAT with the same browser count once.

/** Clients remembered per stream; beyond this the longest-unseen are forgotten. */
const MAX_CLIENTS_PER_STREAM = 10_000;

export class HlsAudience {
  private readonly clients = new Map<string, Map<string, number>>();

  constructor(
    /** A client unseen for this long has left. */
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A client read a media playlist of the stream. */
  saw(streamId: string, client: string): void {
    let m = this.clients.get(streamId);
    if (!m) this.clients.set(streamId, (m = new Map()));
    m.delete(client); // re-inserted last: the map stays ordered by last sight
    m.set(client, this.now());
    if (m.size > MAX_CLIENTS_PER_STREAM) m.delete(m.keys().next().value!);
  }

  /** Clients seen within the window (and forgets the others). */
  count(streamId: string): number {
    const m = this.clients.get(streamId);
    if (!m) return 0;
    const cutoff = this.now() - this.windowMs;
    for (const [client, at] of m) {
      if (at >= cutoff) break;
      m.delete(client);
    }
    if (m.size === 0) this.clients.delete(streamId);
    return m.size;
  }

  forget(streamId: string): void {
    this.clients.delete(streamId);
  }
}
