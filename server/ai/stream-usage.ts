// What a relayed LLM event stream used, read as it goes by: the usage the last event
// reported (Livepeer's LLM chunks carry the count so far), else one token per event. A
// stream cut short (the client hung up, the orchestrator failed) counts what was relayed.
import { usedUnits } from "../../protocol/ai/spec.ts";

/** An event line longer than this is not one whose usage can be read (and is not kept). */
const MAX_EVENT_LINE_CHARS = 1024 * 1024;

export class StreamedUsage {
  private readonly decoder = new TextDecoder();
  private partial = "";
  private reported: number | undefined;
  private events = 0;

  /** `ceiling`: the most the answer can be billed (protocol/ai/spec.ts unitCeiling). */
  constructor(private readonly ceiling: number) {}

  /** One chunk of the stream, as relayed (chunks may split lines and characters anywhere). */
  feed(chunk: Uint8Array): void {
    const text = this.partial + this.decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
      this.line(text.slice(start, nl));
      start = nl + 1;
    }
    this.partial = text.length - start > MAX_EVENT_LINE_CHARS ? "" : text.slice(start);
  }

  /** Units used so far. */
  get units(): number {
    return this.reported ?? Math.min(this.events, this.ceiling);
  }

  private line(line: string): void {
    if (!line.startsWith("data:")) return;
    const data = line.slice(5).trim();
    if (data === "" || data === "[DONE]") return;
    let event: unknown;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    if (!event || typeof event !== "object" || !Array.isArray((event as { choices?: unknown }).choices)) return;
    this.events++;
    const used = usedUnits(event, this.ceiling);
    if (used !== undefined) this.reported = used;
  }
}
