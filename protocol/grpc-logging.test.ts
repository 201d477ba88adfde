import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";

test("grpc-js diagnostics come out as Wharf's JSON log lines, not raw console text", () => {
  const script = `
    import * as grpc from "@grpc/grpc-js";
    import { routeGrpcLogging } from "./protocol/grpc-logging.ts";
    routeGrpcLogging();
    grpc.experimental.log(grpc.logVerbosity.ERROR, "subchannel went away");
  `;
  const run = () => {
    try {
      return { out: execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { env: { ...process.env, WHARF_LOG_LEVEL: "info" }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }), err: "" };
    } catch (e) {
      const x = e as { stdout: string; stderr: string };
      return { out: x.stdout, err: x.stderr };
    }
  };
  const { out, err } = run();
  const line = out.split("\n").find((l) => l.includes("subchannel went away"));
  assert.ok(line, `a log line on stdout: ${out} / ${err}`);
  const rec = JSON.parse(line) as { module: string; lib: string; level: number; msg: string };
  assert.equal(rec.module, "grpc-js");
  assert.equal(rec.level, 40);
  assert.ok(!err.includes("subchannel went away"), "nothing raw on stderr");
});
