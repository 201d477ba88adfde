import assert from "node:assert/strict";
import { test } from "node:test";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { checksumAddress } from "./address.ts";
import { generateSecretKey, secretKeySigner } from "./personal-sign.ts";
import { orchestratorRequestMessage, orchestratorRequestSigValid, signOrchestratorRequest } from "./orchestrator-request-sig.ts";

// Key from go-livepeer eth/backend_test.go; signature computed with go's formula
// personal_sign(keccak256("0x96216849c49358B10257cb55b28eA603c874b05E")).
const KEY = hexToBytes("fad9c8855b740a0b7ed4c221dbad0f33a83a49cad6b3fe8d5817ac83d38b6a19");

test("signs keccak256 of the checksummed address text, as go's broadcaster.Sign", () => {
  const signer = secretKeySigner(KEY);
  assert.equal(checksumAddress(signer.address), "0x96216849c49358B10257cb55b28eA603c874b05E");
  assert.equal(bytesToHex(orchestratorRequestMessage(signer.address)), "ee96633aed042ac52aa7069ecf77197b72b4eaf865c41905e4e184b7b2a54799");
  assert.equal(
    bytesToHex(signOrchestratorRequest(signer)),
    "a224e17c21555def269cf7f7c379a974b62870990c56c1ea81e6aeac3c5758be2a3e1bf6419b39e2d245d7e309d02a492f5b9a5e7b9f8479c71dfbc24af8398d1b",
  );
});

test("the orchestrator's check accepts the owner's signature only", () => {
  const signer = secretKeySigner(generateSecretKey());
  const sig = signOrchestratorRequest(signer);
  assert.ok(orchestratorRequestSigValid(signer.address, sig));
  assert.equal(orchestratorRequestSigValid(secretKeySigner(generateSecretKey()).address, sig), false);
});
