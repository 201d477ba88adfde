// The renditions a stream's processor produces; output adapters (HLS, WHEP) consume them.
import { EventEmitter } from "node:events";
import type { LiveSegment } from "../../core/live-segment.ts";
import type { Rendition } from "./types.ts";

export interface OutputEvents {
  renditions: [Rendition[]];
  /** A segment of a rendition started (bytes may still be arriving). */
  segment: [string, LiveSegment];
  /** A segment of a rendition could not be produced: listed as a gap of this many seconds. */
  gap: [string, number];
  /** The timeline breaks (processor swapped orchestrators, publisher came back). */
  discontinuity: [];
  /** The stream ended (publisher left or was stopped). */
  ended: [];
}

export class StreamOutputs extends EventEmitter<OutputEvents> {
  renditions: Rendition[] = [];

  constructor() {
    super();
    this.setMaxListeners(100);
  }

  setRenditions(list: Rendition[]): void {
    this.renditions = list;
    this.emit("renditions", list);
  }

  publish(rendition: string, segment: LiveSegment): void {
    this.emit("segment", rendition, segment);
  }

  gap(rendition: string, durationSec: number): void {
    this.emit("gap", rendition, durationSec);
  }

  discontinuity(): void {
    this.emit("discontinuity");
  }

  ended(): void {
    this.emit("ended");
  }
}
