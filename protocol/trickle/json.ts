// JSON over trickle: one JSON message per segment (live AI control and events channels).
//
//   const control = new TrickleJsonPublisher(controlUrl);
//   control.startKeepalive();                  // {"keep":"alive"} every 10 s
//   await control.send({ model_id, params });
//
//   const events = new TrickleJsonSubscriber(eventsUrl);
//   for await (const { seq, value } of events) ...

import { moduleLogger, type Logger } from "../../core/log.ts";
import { TricklePublisher, type TricklePublisherOptions } from "./publisher.ts";
import { TrickleSubscriber, type TrickleSubscriberOptions } from "./subscriber.ts";
import { untilNull } from "./iterate.ts";

export const JSON_CONTENT_TYPE = "application/json";
export const KEEPALIVE_MESSAGE = { keep: "alive" } as const;

export class TrickleJsonPublisher {
  readonly publisher: TricklePublisher;
  private chain: Promise<unknown> = Promise.resolve();
  private keepalive: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(url: string, opts: TricklePublisherOptions = {}) {
    this.publisher = new TricklePublisher(url, { contentType: JSON_CONTENT_TYPE, ...opts });
    this.log = opts.logger ?? moduleLogger("trickle-json");
  }

  /** Publishes one message as one segment (messages go out in call order); resolves with its seq. */
  send(value: unknown): Promise<number> {
    const body = JSON.stringify(value);
    if (body === undefined) return Promise.reject(new TypeError("value is not JSON-serialisable"));
    const run = this.chain.then(() => this.publisher.writeSegment(body));
    this.chain = run.catch(() => {});
    return run;
  }

  /** Sends `message` every `intervalMs` (go-livepeer gateways send {"keep":"alive"} every 10 s). */
  startKeepalive(intervalMs = 10_000, message: unknown = KEEPALIVE_MESSAGE): void {
    this.stopKeepalive();
    this.keepalive = setInterval(() => {
      this.send(message).catch((err: unknown) => this.log.debug({ err }, "trickle keepalive failed"));
    }, intervalMs);
    this.keepalive.unref();
  }

  stopKeepalive(): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = undefined;
  }

  /** Stops the keepalive and closes the publisher (DELETE of the channel unless told otherwise). */
  async close(opts: { deleteChannel?: boolean } = {}): Promise<void> {
    this.stopKeepalive();
    await this.publisher.close(opts);
  }
}

export interface JsonMessage<T> {
  seq: number;
  value: T;
}

/** A JSON message (an event, a control update) is small: a segment over this is dropped unread. */
export const MAX_JSON_SEGMENT_BYTES = 1024 * 1024;

export class TrickleJsonSubscriber<T = unknown> implements AsyncIterable<JsonMessage<T>> {
  readonly subscriber: TrickleSubscriber;
  private readonly log: Logger;
  /** Segments whose body was not valid JSON (skipped). */
  invalid = 0;

  constructor(url: string, opts: TrickleSubscriberOptions = {}) {
    this.subscriber = new TrickleSubscriber(url, opts);
    this.log = opts.logger ?? moduleLogger("trickle-json");
  }

  /** The next message; null at end of stream. Segments that are not valid JSON are skipped. */
  async next(): Promise<JsonMessage<T> | null> {
    for (;;) {
      const seg = await this.subscriber.next();
      if (!seg) return null;
      let text: string;
      try {
        text = await seg.text(MAX_JSON_SEGMENT_BYTES);
      } catch (err) {
        this.log.debug({ err, seq: seg.seq }, "trickle JSON segment cut short");
        continue;
      }
      try {
        return { seq: seg.seq, value: JSON.parse(text) as T };
      } catch {
        this.invalid++;
        this.log.warn({ seq: seg.seq, bytes: text.length }, "trickle JSON segment is not valid JSON; skipped");
      }
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<JsonMessage<T>> {
    return untilNull(() => this.next(), () => {
      if (!this.subscriber.ended) this.subscriber.close();
    });
  }

  close(): void {
    this.subscriber.close();
  }
}
