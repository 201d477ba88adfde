// Cluster mode: a recording's files stay on the node that recorded them, named in the shared index
// by its recording node id (host and data folder, stable across restarts). Each node says in Redis
// where it runs now (`<clusterName>:recording-holder:<recording node id>` -> "<node id> <internal
// address>", renewed every 2 s, TTL 6 s), so a segment, MP4 or delete request for a recording held
// elsewhere is proxied there; a holder that is not running has no entry, and its recordings are
// unavailable (503) until it returns.
import type { Redis } from "ioredis";
import { moduleLogger } from "../../core/log.ts";
import type { StreamOwner } from "../cluster/ownership.ts";

const log = moduleLogger("recording-holders");

export interface RecordingHoldersOptions {
  prefix: string;
  /** This node's name in the recordings index (recordingNodeId). */
  recordingNode: string;
  /** This node's cluster id and internal base URL. */
  nodeId: string;
  address: () => string;
  beatMs?: number;
  ttlMs?: number;
}

export class RecordingHolders {
  private readonly timer: NodeJS.Timeout;
  private readonly ttlMs: number;
  private lastWarning = 0;

  constructor(private readonly redis: Redis, private readonly opts: RecordingHoldersOptions) {
    const beatMs = opts.beatMs ?? 2000;
    this.ttlMs = opts.ttlMs ?? 3 * beatMs;
    void this.beat();
    this.timer = setInterval(() => void this.beat(), beatMs);
    this.timer.unref();
  }

  get nodeId(): string {
    return this.opts.nodeId;
  }

  private key(recordingNode: string): string {
    return `${this.opts.prefix}recording-holder:${recordingNode}`;
  }

  private async beat(): Promise<void> {
    try {
      await this.redis.set(this.key(this.opts.recordingNode), `${this.opts.nodeId} ${this.opts.address()}`, "PX", this.ttlMs);
    } catch (err) {
      if (Date.now() - this.lastWarning > 10_000) {
        this.lastWarning = Date.now();
        log.warn({ err: (err as Error).message }, "could not say in Redis where this node's recordings are served");
      }
    }
  }

  /** The running node that holds a recording node's files, or undefined when none runs now. */
  async holder(recordingNode: string): Promise<StreamOwner | undefined> {
    const v = await this.redis.get(this.key(recordingNode));
    if (!v) return undefined;
    const at = v.indexOf(" ");
    return { nodeId: v.slice(0, at), address: v.slice(at + 1) };
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.del(this.key(this.opts.recordingNode)).catch(() => {});
  }
}
