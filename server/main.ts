// `npm start`: load configuration, start the gateway, print the URLs, stop cleanly on signals.
import { configHelp, ConfigError, loadConfig } from "./config/load.ts";
import { startGateway } from "./gateway.ts";
import { streamUrls } from "./api/urls.ts";
import { moduleLogger } from "../core/log.ts";
import { metrics } from "../core/metrics.ts";

const log = moduleLogger("process");

// A promise rejection nobody handled is a bug in some background task (a timer's tick, the end of
// one stream): logged and counted (wharf_unhandled_rejections_total), not the end of every stream
// this process serves, as Node's default would make it. An uncaught exception still ends the
// process: the state it left may be half changed.
process.on("unhandledRejection", (reason: unknown) => {
  metrics.unhandledRejections.inc();
  log.error({ err: reason instanceof Error ? { message: reason.message, stack: reason.stack } : String(reason) }, "unhandled promise rejection (a bug)");
});

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log("Usage: npm start -- [--flag value ...]\n\n" + configHelp());
    return;
  }
  const config = loadConfig({ argv });
  const gw = await startGateway(config);

  let demo = gw.store.list(gw.adminKeyId).find((s) => s.name === "demo");
  demo ??= await gw.store.create({ name: "demo", pipeline: "passthrough", ownerKeyId: gw.adminKeyId, options: {} });
  const demoUrls = streamUrls(gw.urls, demo.id, demo.streamKey);
  const lines = [
    "",
    "Wharf is running",
    `  API          ${gw.urls.http}   (Authorization: Bearer <admin key>)`,
    gw.adminSecret
      ? `  Admin key    ${gw.adminSecret}   (${gw.adminKeyIsNew ? "new; " : ""}saved in ${config.dataDir}/admin-key)`
      : `  Admin key    the one given in WHARF_ADMIN_KEY / --admin-key`,
    `  RTMP ingest  ${gw.urls.rtmp}/<streamKey>`,
    "",
    `  Demo stream  ${demo.id}`,
    `    Publish    ${demoUrls.rtmpUrl}`,
    `               (OBS: server ${gw.urls.rtmp}, stream key ${demo.streamKey})`,
    `    Test push  npm run push-test -- ${demoUrls.rtmpUrl}`,
    `    Player     ${demoUrls.playerUrl}`,
    `    HLS        ${demoUrls.hlsUrl}`,
    "",
  ];
  process.stdout.write(lines.join("\n") + "\n");

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping\n`);
    const force = setTimeout(() => process.exit(1), 4500);
    force.unref();
    void gw.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`wharf: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`wharf: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
