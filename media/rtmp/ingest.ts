// RTMP ingest adapter: rtmp://host:port/live/<streamKey> -> hub admission -> segments.
import { moduleLogger } from "../../core/log.ts";
import type { StreamHub } from "../hub/hub.ts";
import { Segmenter } from "../segmenter/segmenter.ts";
import { RtmpServer } from "./server.ts";

const log = moduleLogger("rtmp");

export interface RtmpIngestOptions {
  host: string;
  port: number;
  /** Unused since the RTMP server writes no files; kept so callers need not change. */
  dataDir?: string;
  segmentDuration: number;
}

export const RTMP_APP = "live";

export async function startRtmpIngest(hub: StreamHub, opts: RtmpIngestOptions): Promise<RtmpServer> {
  const server = new RtmpServer({
    host: opts.host,
    port: opts.port,
    onLog: (level, msg, fields) => log[level](fields, msg),
    onPublish: async (req, publisher) => {
      if (req.app !== RTMP_APP) return `unknown application "${req.app}" (use /${RTMP_APP}/<streamKey>)`;
      let segmenter: Segmenter | undefined;
      const admitted = await hub.admit({
        streamKey: req.name,
        protocol: "rtmp",
        remoteAddress: req.remoteAddress,
        disconnect: () => {
          publisher.close();
          void segmenter?.stop();
        },
      });
      if (!admitted.ok) return admitted.reason;
      const ingest = admitted.ingest;
      segmenter = new Segmenter({
        inputArgs: ["-f", "flv", "-i", "pipe:0"],
        targetDuration: opts.segmentDuration,
        label: `rtmp-segmenter ${ingest.stream.id}`,
        onSegment: (seg) => ingest.pushSegment(seg),
        onExit: (code, stderr) => {
          log.warn({ stream: ingest.stream.id, code, stderr: stderr.slice(-500) }, "segmenter stopped; ending ingest");
          publisher.close();
          ingest.end("failed");
        },
      });
      const s = segmenter;
      publisher.onFlv((chunk) => {
        ingest.touch(chunk.length);
        s.write(chunk);
      });
      // Flush the last segment, then end the session.
      publisher.onClose(() => void s.finish().then(() => ingest.end("publisher-left")));
      return true;
    },
  });
  await server.start();
  return server;
}
