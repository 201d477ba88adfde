// The simulated L1 chain the development orchestrator's ticket params expire against: one block
// every 12 s of wall time counted from the Ethereum merge (so block numbers look like mainnet's),
// rounds of 5760 blocks (a Livepeer round is one day of L1 blocks), a made-up hash per round.
import { keccak_256 } from "@noble/hashes/sha3.js";
import type { TicketExpiration } from "../../protocol/payments/ticket.ts";

/** Mainnet block 15537394 was the merge, at 2022-09-15T06:42:59Z; blocks have come every 12 s since. */
export const MERGE_BLOCK = 15_537_394n;
export const MERGE_TIME_MS = Date.UTC(2022, 8, 15, 6, 42, 59);
export const L1_BLOCK_TIME_MS = 12_000;
/** Livepeer's round length on L1 (about one day). */
export const ROUND_LENGTH_BLOCKS = 5_760n;

export class SimulatedL1Clock {
  /** Blocks added by hand (tests: make ticket params expire without waiting 8 minutes). */
  private advancedBlocks = 0n;

  constructor(private readonly now: () => number = Date.now) {}

  /** The last L1 block "seen" now. */
  block(): bigint {
    const elapsed = Math.max(0, this.now() - MERGE_TIME_MS);
    return MERGE_BLOCK + BigInt(Math.floor(elapsed / L1_BLOCK_TIME_MS)) + this.advancedBlocks;
  }

  /** Move the chain forward by `blocks` at once. */
  advance(blocks: bigint): void {
    if (blocks < 0n) throw new RangeError("the chain does not go back");
    this.advancedBlocks += blocks;
  }

  /**
   * The round tickets are created in and its block hash (the ticket's aux data). Never zero, so
   * tickets carry aux data as on chain.
   */
  expiration(): TicketExpiration {
    const round = this.block() / ROUND_LENGTH_BLOCKS;
    return { creationRound: Number(round), creationRoundBlockHash: keccak_256(new TextEncoder().encode(`wharf-dev-l1-round-${round}`)) };
  }
}
