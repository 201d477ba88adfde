// Structured JSON logs (pino). One root logger; modules take a child with their name.
import { pino, type Logger } from "pino";

export type { Logger };

export const rootLogger: Logger = pino({
  level: process.env.WHARF_LOG_LEVEL ?? (process.env.NODE_ENV === "test" ? "warn" : "info"),
  base: { app: "wharf" },
  redact: {
    paths: ["req.headers.authorization", "headers.authorization", "secret", "streamKey", "*.secret", "*.streamKey"],
    censor: "[redacted]",
  },
});

export function moduleLogger(name: string): Logger {
  return rootLogger.child({ module: name });
}
