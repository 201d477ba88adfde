// @grpc/grpc-js writes its own diagnostics to console.error (one line per event, verbosity from
// GRPC_VERBOSITY, ERROR by default). They go through Wharf's logger instead, as JSON lines with
// the module name, so an operator's log pipeline sees one format and one redaction policy.
import * as grpc from "@grpc/grpc-js";
import { moduleLogger } from "../core/log.ts";

const log = moduleLogger("grpc-js");
let installed = false;

/** Idempotent; called wherever a gRPC client or server is made. */
export function routeGrpcLogging(): void {
  if (installed) return;
  installed = true;
  const line = (args: unknown[]) => args.map((a) => (typeof a === "string" ? a : a instanceof Error ? a.message : String(a))).join(" ").slice(0, 2000);
  grpc.setLogger({
    error: (...args: unknown[]) => log.warn({ lib: "grpc-js" }, line(args)),
    info: (...args: unknown[]) => log.info({ lib: "grpc-js" }, line(args)),
    debug: (...args: unknown[]) => log.debug({ lib: "grpc-js" }, line(args)),
  });
}
