// Headless Debian Chromium through playwright-core, on loopback only.
import { chromium, type Browser } from "playwright-core";
import { existsSync } from "node:fs";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p)) ?? "/usr/bin/chromium";

export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless=new", "--no-sandbox", "--disable-gpu",
      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
      "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
      ...extraArgs,
    ],
  });
}
