// Trickle protocol: server (channels, HTTP routes, in-process API) and clients.
export * from "./errors.ts";
export * from "./server.ts";
export * from "./mount.ts";
export * from "./publisher.ts";
export * from "./subscriber.ts";
export * from "./json.ts";
export type { TrickleClientOptions } from "./http-client.ts";
