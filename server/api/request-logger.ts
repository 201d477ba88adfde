// Per-request loggers made on first use. Fastify gives every request a child logger
// (bound to its request id); with pino that is an object, a serialised bindings string and
// redaction set-up per request, while a request that goes well logs nothing here
// (request logging is off). This stands in for the child until something is logged.
import type { FastifyBaseLogger } from "fastify";
import type { Bindings, ChildLoggerOptions } from "pino";

class LazyChildLogger {
  private made?: FastifyBaseLogger;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly opts: ChildLoggerOptions,
  ) {}

  private get log(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.opts));
  }

  get level(): string {
    return this.log.level;
  }
  set level(l: string) {
    this.log.level = l;
  }
  // Prototype methods (not arrow fields): nothing allocated per request but this object.
  fatal(...a: unknown[]): void {
    this.log.fatal(...(a as [string]));
  }
  error(...a: unknown[]): void {
    this.log.error(...(a as [string]));
  }
  warn(...a: unknown[]): void {
    this.log.warn(...(a as [string]));
  }
  info(...a: unknown[]): void {
    this.log.info(...(a as [string]));
  }
  debug(...a: unknown[]): void {
    this.log.debug(...(a as [string]));
  }
  trace(...a: unknown[]): void {
    this.log.trace(...(a as [string]));
  }
  silent(): void {}
  child(bindings: Bindings, opts?: ChildLoggerOptions): FastifyBaseLogger {
    return this.log.child(bindings, opts);
  }
}

/** Fastify `childLoggerFactory`. */
export function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, opts) as unknown as FastifyBaseLogger;
}
