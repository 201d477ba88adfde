// Loopback UDP plumbing between werift and ffmpeg.
import dgram from "node:dgram";

function bindUdp(port: number): Promise<dgram.Socket | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket("udp4");
    s.once("error", () => {
      s.close();
      resolve(undefined);
    });
    s.bind(port, "127.0.0.1", () => resolve(s));
  });
}

/** An even UDP port on 127.0.0.1 whose successor (RTCP) is free too, for ffmpeg to bind. */
export async function reserveRtpPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await bindUdp(0);
    if (!first) continue;
    const p = (first.address() as { port: number }).port;
    const even = p % 2 === 0 ? p : p + 1;
    const a = even === p ? first : await bindUdp(even);
    if (even !== p) first.close();
    if (!a) continue;
    const b = await bindUdp(even + 1);
    a.close();
    if (!b) continue;
    b.close();
    if (even + 1 <= 65535) return even;
  }
  throw new Error("no free UDP port pair on 127.0.0.1");
}

/** A socket bound to 127.0.0.1 on an ephemeral port (sending to ffmpeg, or receiving from it). */
export async function loopbackSocket(onMessage?: (msg: Buffer) => void): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: "udp4", recvBufferSize: 4 * 1024 * 1024 });
  s.on("error", () => {});
  if (onMessage) s.on("message", (m: Buffer) => onMessage(m));
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => resolve());
  });
  return s;
}

export function socketPort(s: dgram.Socket): number {
  return (s.address() as { port: number }).port;
}

export function closeSocket(s: dgram.Socket | undefined): void {
  try {
    s?.close();
  } catch {
    /* already closed */
  }
}
