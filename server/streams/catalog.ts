// The stream catalog: stream records the API creates and ingest authenticates against. Durable in the
// accounts database; cached in memory so the hub and HLS routes can read them synchronously.
import type { Accounts, Actor, StreamRow as StoredStream } from "../accounts/index.ts";
import type { Pipeline, StreamDirectory, StreamOptions, StreamRecord } from "../../media/hub/types.ts";

export interface NewStream {
  name: string;
  pipeline: Pipeline;
  ownerKeyId: string;
  options: StreamOptions;
}

export interface StreamCatalog extends StreamDirectory {
  create(input: NewStream, actor?: Actor): Promise<StreamRecord>;
  list(ownerKeyId?: string): StreamRecord[];
  update(id: string, options: StreamOptions): Promise<StreamRecord | undefined>;
  rotateKey(id: string, actor?: Actor): Promise<StreamRecord | undefined>;
  delete(id: string, actor?: Actor): Promise<boolean>;
}

function fromStored(s: StoredStream): StreamRecord {
  return {
    id: s.id,
    name: s.name,
    pipeline: s.pipeline as Pipeline,
    streamKey: s.streamKey,
    ownerKeyId: s.ownerKeyId,
    createdAt: s.createdAt,
    options: s.config as StreamOptions,
  };
}

export class AccountsStreamCatalog implements StreamCatalog {
  private readonly byId = new Map<string, StreamRecord>();
  private readonly byKey = new Map<string, StreamRecord>();

  private constructor(
    private readonly accounts: Accounts,
    private readonly shared: boolean,
  ) {}

  /**
   * `shared`: other nodes write the same database (cluster mode), so admission reads the record
   * from the database every time, and `refresh`/`refreshAll` bring the cache up to date.
   */
  static async open(accounts: Accounts, opts: { shared?: boolean } = {}): Promise<AccountsStreamCatalog> {
    const store = new AccountsStreamCatalog(accounts, opts.shared === true);
    for (const s of await accounts.listStreams()) store.remember(fromStored(s));
    return store;
  }

  private remember(r: StreamRecord): void {
    const old = this.byId.get(r.id);
    if (old) this.byKey.delete(old.streamKey);
    this.byId.set(r.id, r);
    this.byKey.set(r.streamKey, r);
  }

  private forget(id: string): void {
    const old = this.byId.get(id);
    if (!old) return;
    this.byId.delete(id);
    this.byKey.delete(old.streamKey);
  }

  async create(input: NewStream, actor?: Actor): Promise<StreamRecord> {
    const stored = await this.accounts.createStream(
      { ownerKeyId: input.ownerKeyId, name: input.name, pipeline: input.pipeline, config: input.options },
      actor,
    );
    const r = fromStored(stored);
    this.remember(r);
    return r;
  }

  get(id: string): StreamRecord | undefined {
    return this.byId.get(id);
  }

  /**
   * The cached record, else the database's (a key rotated or a stream created by the CLI or
   * another process). A cached key that was rotated elsewhere still resolves here, but
   * admission authenticates the key against the database, so it is refused.
   */
  async findByStreamKey(streamKey: string): Promise<StreamRecord | undefined> {
    const cached = this.byKey.get(streamKey);
    if (cached && !this.shared) return cached;
    const stored = await this.accounts.findStreamByKey(streamKey);
    if (!stored || stored.deletedAt !== null) return undefined;
    const r = fromStored(stored);
    this.remember(r);
    return r;
  }

  /** The database's record of a stream (cluster mode: it may have been made or changed on another node). */
  async refresh(id: string): Promise<StreamRecord | undefined> {
    const stored = await this.accounts.getStream(id);
    if (!stored || stored.deletedAt !== null) {
      this.forget(id);
      return undefined;
    }
    const r = fromStored(stored);
    this.remember(r);
    return r;
  }

  /** Every stream in the database joins the cache (deletions arrive as events). */
  async refreshAll(ownerKeyId?: string): Promise<void> {
    for (const s of await this.accounts.listStreams({ ownerKeyId })) this.remember(fromStored(s));
  }

  /** A new stream key; the old one stops working at once (a live publisher on it is left alone). */
  async rotateKey(id: string, actor?: Actor): Promise<StreamRecord | undefined> {
    if (!this.byId.has(id)) return undefined;
    const r = fromStored(await this.accounts.rotateStreamKey(id, actor));
    this.remember(r);
    return r;
  }

  list(ownerKeyId?: string): StreamRecord[] {
    return [...this.byId.values()]
      .filter((r) => ownerKeyId === undefined || r.ownerKeyId === ownerKeyId)
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  async update(id: string, options: StreamOptions): Promise<StreamRecord | undefined> {
    if (!this.byId.has(id)) return undefined;
    const r = fromStored(await this.accounts.updateStream(id, { config: options }));
    this.remember(r);
    return r;
  }

  async delete(id: string, actor?: Actor): Promise<boolean> {
    if (!this.byId.has(id)) return false;
    await this.accounts.deleteStream(id, actor);
    this.forget(id);
    return true;
  }
}
