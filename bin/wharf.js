#!/usr/bin/env node
// Launcher for the `wharf` CLI: runs the built dist/ if present, else the TypeScript source through tsx.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const built = path.join(root, "dist", "server", "cli.js");
let cli;
if (existsSync(built)) {
  cli = await import(pathToFileURL(built).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import(pathToFileURL(path.join(root, "server", "cli.ts")).href);
}
process.exitCode = await cli.main(process.argv.slice(2));
