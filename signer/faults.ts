// Fault knobs for tests (--faults): POST /wharf/faults makes the next payment calls answer a given
// status or answer late, so a gateway's handling of 480/481/482/500 and of slow signers can be
// exercised without crafting orchestrator state; POST /wharf/exit ends the process.
import { isObject } from "../protocol/payments/remote-signer-wire.ts";

export const FAULT_STATUS_MESSAGES: Readonly<Record<number, string>> = {
  480: "refresh session for remote signer",
  481: "orchestrator price exceeds configured maximum price ceiling (injected fault)",
  482: "no tickets",
  500: "injected fault",
};

export interface Fault {
  /** Answer this status instead of signing; absent: sign normally after delayMs. */
  status?: number;
  delayMs?: number;
}

export class FaultPlan {
  private fault: Fault | undefined;
  private remaining = 0;

  /** Parse and arm `{"status"?: 400..599, "delayMs"?: ms, "count": n}`; `{"count": 0}` clears. Returns an error text or undefined. */
  arm(body: unknown): string | undefined {
    if (!isObject(body)) return "expected {status?, delayMs?, count}";
    const { status, delayMs, count } = body;
    if (typeof count !== "number" || !Number.isInteger(count) || count < 0) return "count must be an integer >= 0";
    if (status !== undefined && (typeof status !== "number" || !Number.isInteger(status) || status < 400 || status > 599)) return "status must be 400..599";
    if (delayMs !== undefined && (typeof delayMs !== "number" || delayMs < 0 || delayMs > 600_000)) return "delayMs must be 0..600000";
    if (status === undefined && delayMs === undefined && count > 0) return "give a status or a delayMs";
    this.fault = count > 0 ? { status: status as number | undefined, delayMs: delayMs as number | undefined } : undefined;
    this.remaining = count;
    return undefined;
  }

  /** Calls the armed fault will still answer. */
  get left(): number {
    return this.fault ? this.remaining : 0;
  }

  /** The fault for this call, if one is armed (counts it down). */
  take(): Fault | undefined {
    if (!this.fault || this.remaining <= 0) return undefined;
    this.remaining--;
    const f = this.fault;
    if (this.remaining === 0) this.fault = undefined;
    return f;
  }
}
