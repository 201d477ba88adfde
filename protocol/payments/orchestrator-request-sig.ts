// The gateway's proof of its address in OrchestratorRequest{address, sig}: personal_sign over
// keccak256 of the EIP-55 checksummed address text (go's broadcaster.Sign hashes, then the account
// signs; the orchestrator's VerifySig hashes the same text). The remote signer's
// /sign-orchestrator-info returns this signature.
import { keccak_256 } from "@noble/hashes/sha3.js";
import { checksumAddress } from "./address.ts";
import { verifyPersonalSignature, type MessageSigner } from "./personal-sign.ts";

/** The 32-byte message signed for an address. */
export function orchestratorRequestMessage(address: Uint8Array): Uint8Array {
  return keccak_256(new TextEncoder().encode(checksumAddress(address)));
}

export function signOrchestratorRequest(signer: MessageSigner): Uint8Array {
  return signer.sign(orchestratorRequestMessage(signer.address));
}

/** What an on-chain orchestrator checks before answering GetOrchestrator. */
export function orchestratorRequestSigValid(address: Uint8Array, sig: Uint8Array): boolean {
  return verifyPersonalSignature(address, orchestratorRequestMessage(address), sig);
}
