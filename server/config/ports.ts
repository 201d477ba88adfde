// Start-up check that the listening ports are free, before anything else starts (a second
// `npm start` should say so in one line, not after starting orchestrators).
import net from "node:net";
import { ConfigError } from "./load.ts";

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Throws a ConfigError naming the first setting whose port is taken (port 0 = any: never taken). */
export async function requireFreePorts(host: string, ports: Record<string, number>): Promise<void> {
  for (const [setting, port] of Object.entries(ports)) {
    if (port === 0) continue;
    if (!(await portFree(host, port))) {
      throw new ConfigError(`${setting} ${port} on ${host} is already in use (another Wharf running?); choose another with --${setting.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}`);
    }
  }
}
