// The error the accounts service throws for bad input; `field` names what to fix (routes answer 400/404/409).
export class AccountsError extends Error {
  constructor(readonly code: "invalid_request" | "not_found" | "conflict", readonly field: string | undefined, message: string) {
    super(message);
    this.name = "AccountsError";
  }
}

/** Who did it, for the audit log. */
export interface Actor {
  /** Key id, or "system" (CLI, start-up). */
  actor: string;
  remoteIp?: string | null;
}

export const SYSTEM: Actor = { actor: "system" };
