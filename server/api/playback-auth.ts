// Signed playback: streams whose playbackPolicy is {"type": "jwt"} are played (HLS playlists and
// every segment and part, WHEP, thumbnails) only with a JWT from one of the owner's signing keys,
// given as `?jwt=` or a `Livepeer-Jwt` header: 401 when missing or invalid, 403 when valid but
// for another stream or expired.
//
// The media routes (media/hls, media/webrtc) know nothing of this: one onRequest hook matches
// their URLs. A player that got the token as `?jwt=` only carries it on the URLs it was given, so
// for such a request the playlists' URIs (segments, parts, preload hints, renditions) get the
// same `jwt=` appended in onSend; with the header the player sends it itself. Answers of a jwt
// stream are `Cache-Control: private` so a shared cache cannot hand them to anyone else.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { errorBody } from "../../core/errors.ts";
import type { StreamRecord } from "../../media/hub/types.ts";
import type { TokenCheck } from "../playback/signing-keys.ts";

export type PlaybackPolicy = { type: "public" } | { type: "jwt" };

/** The media URLs a playback policy covers: HLS, WHEP offers and thumbnails of a stream. */
const PLAYBACK_PATH = /^\/v1\/streams\/([A-Za-z0-9_-]{1,64})\/(?:hls\/[^?]*|whep|thumbnail\.jpg)$/;

export interface PlaybackAuthOptions {
  getStream: (id: string) => StreamRecord | undefined;
  checkToken: (token: string, stream: StreamRecord) => Promise<TokenCheck>;
}

export function playbackPolicyOf(record: StreamRecord): PlaybackPolicy {
  const p = record.options.playbackPolicy as PlaybackPolicy | undefined;
  return p?.type === "jwt" ? { type: "jwt" } : { type: "public" };
}

/** `uri` with `jwt=<token>` added to its query. */
export function withToken(uri: string, token: string): string {
  if (/[?&]jwt=/.test(uri)) return uri;
  return `${uri}${uri.includes("?") ? "&" : "?"}jwt=${encodeURIComponent(token)}`;
}

/** A playlist whose URI lines and URI="..." attributes carry the token. */
export function playlistWithToken(text: string, token: string): string {
  return text
    .split("\n")
    .map((line) => {
      if (!line.trim()) return line;
      if (!line.startsWith("#")) return withToken(line.trimEnd(), token) + (line.endsWith("\r") ? "\r" : "");
      return line.replace(/URI="([^"]*)"/g, (_m, uri: string) => `URI="${withToken(uri, token)}"`);
    })
    .join("\n");
}

declare module "fastify" {
  interface FastifyRequest {
    /** The playback token that came as ?jwt= on a jwt stream's playlist (re-added to its URIs). */
    playbackQueryToken?: string;
  }
}

export function registerPlaybackAuth(app: FastifyInstance, opts: PlaybackAuthOptions): void {
  /** Whether the request may go on; when not, the refusal was sent. */
  const allowed = async (req: FastifyRequest, reply: FastifyReply, record: StreamRecord, path: string): Promise<boolean> => {
    const fromQuery = queryToken(req);
    const header = req.headers["livepeer-jwt"];
    const token = (typeof header === "string" && header) || fromQuery;
    if (!token) {
      reply.code(401).header("cache-control", "private, no-store").send(errorBody(401, `stream ${record.id} needs a playback token: ?jwt= or the Livepeer-Jwt header`));
      return false;
    }
    const check = await opts.checkToken(token, record);
    if (!check.ok) {
      reply.code(check.status).header("cache-control", "private, no-store").send(errorBody(check.status, check.reason));
      return false;
    }
    if (fromQuery && token === fromQuery && path.endsWith(".m3u8")) req.playbackQueryToken = fromQuery;
    reply.header("x-wharf-playback", "jwt");
    return true;
  };
  // A callback hook: it runs on every request, and only playback of a jwt stream needs to wait.
  app.addHook("onRequest", (req, reply, done) => {
    if (req.method === "OPTIONS") return done();
    const path = req.url.split("?", 1)[0]!;
    const m = PLAYBACK_PATH.exec(path);
    if (!m) return done();
    const record = opts.getStream(m[1]!);
    if (!record || playbackPolicyOf(record).type !== "jwt") return done();
    // A callback hook that answered does not call done (fastify's rule for replying from a hook).
    allowed(req, reply, record, path).then((ok) => ok && done(), done);
  });

  app.addHook("onSend", async (req, reply, payload) => {
    if (reply.getHeader("x-wharf-playback") !== "jwt") return payload;
    reply.removeHeader("x-wharf-playback");
    const cc = reply.getHeader("cache-control");
    if (typeof cc === "string" && cc.includes("public")) reply.header("cache-control", cc.replace("public", "private"));
    const token = req.playbackQueryToken;
    if (!token || reply.statusCode !== 200 || typeof payload !== "string") return payload;
    return playlistWithToken(payload, token);
  });
}

function queryToken(req: FastifyRequest): string | undefined {
  const q = req.query as Record<string, unknown> | undefined;
  const v = q?.jwt;
  return typeof v === "string" && v ? v : undefined;
}
