// Starting a worker thread from one of our modules, whether Wharf runs from its
// TypeScript sources (tsx) or from the compiled dist/ (plain node). Loader hooks are
// per thread in Node 20, so under tsx the thread registers tsx before importing.
import { Worker } from "node:worker_threads";

/** `sibling` is the module's path relative to `from` without extension, e.g. "./ledger-thread". */
export function startModuleThread(from: string, sibling: string, workerData: unknown): Worker {
  const ext = from.endsWith(".ts") ? ".ts" : ".js";
  const entry = new URL(`${sibling}${ext}`, from);
  if (ext === ".js") return new Worker(entry, { workerData });
  const tsx = import.meta.resolve("tsx/esm/api");
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
