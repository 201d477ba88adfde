// /v1/signing-keys: ES256 key pairs for signed playback. The private key is in the create answer
// only; Wharf keeps the public key. A key signs for the streams of the API key that created it
// (an admin's key for every stream).
import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from "fastify";
import { Type } from "typebox";
import { errorBody } from "../../core/errors.ts";
import { actorOf, ownerFilter } from "../api/auth.ts";
import type { SigningKey, SigningKeys } from "./signing-keys.ts";

export interface SigningKeyRoutesOptions {
  keys: SigningKeys;
  preHandler: preHandlerHookHandler;
  audit?: (by: { actor: string; remoteIp: string }, action: string, target: string) => void;
}

function keyView(k: SigningKey): Record<string, unknown> {
  return { id: k.id, publicKey: k.publicPem, publicJwk: k.publicJwk, ownerKeyId: k.ownerKeyId, createdAt: new Date(k.createdAt).toISOString() };
}

export function registerSigningKeyRoutes(app: FastifyInstance, opts: SigningKeyRoutesOptions): void {
  const { keys, preHandler } = opts;
  const visible = (req: FastifyRequest, k: SigningKey | undefined) => {
    const owner = ownerFilter(req);
    return k && (owner === undefined || k.ownerKeyId === owner) ? k : undefined;
  };

  app.post("/v1/signing-keys", { preHandler, schema: { summary: "Create an ES256 playback signing key; the private key is shown once", tags: ["playback"] } }, async (req, reply) => {
    const created = await keys.create(req.apiKey!.id, req.apiKey!.scopes.includes("admin"));
    opts.audit?.(actorOf(req), "signing_key.created", created.key.id);
    return reply.code(201).send({ ...keyView(created.key), privateKey: created.privatePem, privateJwk: created.privateJwk });
  });

  app.get("/v1/signing-keys", { preHandler, schema: { summary: "List playback signing keys (public halves)", tags: ["playback"] } }, async (req) => ({
    signingKeys: (await keys.list(ownerFilter(req))).map(keyView),
  }));

  app.delete("/v1/signing-keys/:id", { preHandler, schema: { summary: "Delete a playback signing key: its tokens stop working at once", tags: ["playback"], params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }) } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    if (!visible(req, await keys.get(id))) return reply.code(404).send(errorBody(404, `signing key ${id} not found`));
    await keys.delete(id);
    opts.audit?.(actorOf(req), "signing_key.deleted", id);
    return reply.code(204).send();
  });
}
