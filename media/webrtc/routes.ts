// WHIP (RFC 9725) and WHEP signalling routes.
//   POST   /v1/streams/{id}/whip                 Authorization: Bearer <stream key>, application/sdp -> 201 answer
//   POST   /live/video-to-video/{stream}/whip    same (go-livepeer path; {stream} is the stream id)
//   DELETE /v1/whip/{session}                    end the publisher session
//   POST   /v1/streams/{id}/whep                 application/sdp (public, like HLS) -> 201 answer
//   DELETE /v1/whep/{session}                    end the viewer session
//   PATCH  on either resource                    405 (no trickle ICE: offers and answers carry all candidates)
// CORS preflight is answered by @fastify/cors (registered in server/api/app.ts) before these routes.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import { errorBody } from "../../core/errors.ts";
import type { SessionResult, WebRtcService } from "./service.ts";

/** WHIP/WHEP endpoints and their session resources. */
const WEBRTC_ENDPOINT = /^\/(v1\/streams\/[^/?]+\/wh[ie]p|live\/video-to-video\/[^/?]+\/whip|v1\/wh[ie]p\/[^/?]+)(\?|$)/;

const SDP = "application/sdp";
const TRICKLE = "application/trickle-ice-sdpfrag";
const SDP_LIMIT = 64 * 1024;
const Id = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$" });
const SessionId = Type.String({ minLength: 1, maxLength: 64, pattern: "^[0-9a-fA-F-]+$" });

function bearerToken(req: FastifyRequest): string | undefined {
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
  return m?.[1];
}

function mediaType(req: FastifyRequest): string {
  return (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
}

/** 415 before the body is parsed unless the request carries an SDP offer. */
async function requireSdp(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const type = mediaType(req);
  if (type !== SDP) {
    reply.header("accept-post", SDP);
    return reply.code(415).send(errorBody(415, `Content-Type must be ${SDP}${type ? `, not ${type}` : ""}`));
  }
}

function send(reply: FastifyReply, result: SessionResult, location: (id: string) => string): FastifyReply {
  if (!result.ok) {
    for (const [k, v] of Object.entries(result.headers ?? {})) reply.header(k, v);
    return reply.code(result.status).send(errorBody(result.status, result.message));
  }
  return reply
    .code(201)
    .header("content-type", SDP)
    .header("location", location(result.id))
    .header("etag", result.etag)
    .header("cache-control", "no-store")
    .send(result.answer);
}

export function registerWebRtcRoutes(app: FastifyInstance, webrtc: WebRtcService): void {
  if (!app.hasContentTypeParser(SDP)) {
    app.addContentTypeParser([SDP, TRICKLE], { parseAs: "string", bodyLimit: SDP_LIMIT }, (_req, body, done) => done(null, body));
  }

  const whip = async (req: FastifyRequest, reply: FastifyReply) => {
    const params = req.params as { id?: string; stream?: string };
    const id = (params.id ?? params.stream)!;
    const result = await webrtc.publish(id, bearerToken(req), req.body, req.ip);
    return send(reply, result, (sid) => `/v1/whip/${sid}`);
  };
  const whipOpts = (key: "id" | "stream") => ({
    onRequest: requireSdp,
    bodyLimit: SDP_LIMIT,
    schema: { params: Type.Object({ [key]: Id }), hide: true },
  });
  // RFC 9725: OPTIONS on a WHIP/WHEP endpoint (with or without CORS preflight headers) says
  // what it takes. The CORS plugin answers every OPTIONS with 204; this adds the WHIP headers.
  app.addHook("onSend", async (req, reply, payload) => {
    if (req.method === "OPTIONS" && WEBRTC_ENDPOINT.test(req.url)) {
      reply.header("accept-post", "application/sdp");
      reply.header("allow", /\/v1\/wh[ie]p\//.test(req.url) ? "DELETE, OPTIONS" : "POST, OPTIONS");
    }
    return payload;
  });
  app.post("/v1/streams/:id/whip", whipOpts("id"), whip);
  app.post("/live/video-to-video/:stream/whip", whipOpts("stream"), whip);

  app.post(
    "/v1/streams/:id/whep",
    { onRequest: requireSdp, bodyLimit: SDP_LIMIT, schema: { params: Type.Object({ id: Id }), hide: true } },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      return send(reply, await webrtc.play(id, req.body), (sid) => `/v1/whep/${sid}`);
    },
  );

  const sessionSchema = { schema: { params: Type.Object({ session: SessionId }), hide: true } };
  app.delete("/v1/whip/:session", sessionSchema, async (req, reply) => {
    const { session } = req.params as { session: string };
    if (!(await webrtc.endWhip(session))) return reply.code(404).send(errorBody(404, `no WHIP session ${session}`));
    return reply.code(200).send();
  });
  app.delete("/v1/whep/:session", sessionSchema, async (req, reply) => {
    const { session } = req.params as { session: string };
    if (!webrtc.endWhep(session)) return reply.code(404).send(errorBody(404, `no WHEP session ${session}`));
    return reply.code(200).send();
  });
  const noPatch = async (_req: FastifyRequest, reply: FastifyReply) =>
    reply
      .code(405)
      .header("allow", "DELETE")
      .send(errorBody(405, "trickle ICE and ICE restarts are not supported: send the complete offer (all candidates) in the POST"));
  app.patch("/v1/whip/:session", { bodyLimit: SDP_LIMIT, schema: { hide: true } }, noPatch);
  app.patch("/v1/whep/:session", { bodyLimit: SDP_LIMIT, schema: { hide: true } }, noPatch);
}
