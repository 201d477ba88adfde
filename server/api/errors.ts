// Fastify's error and not-found handlers, answering in Wharf's error shape (core/errors.ts).
import type { FastifyError, FastifyInstance } from "fastify";
import { errorBody } from "../../core/errors.ts";

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err }, "request failed");
    let message = err.message;
    if (err.validation) message = err.message; // e.g. "body/name must be string"
    else if (err.code === "FST_ERR_CTP_INVALID_JSON_BODY" || err instanceof SyntaxError) message = `malformed JSON body: ${err.message}`;
    else if (status >= 500 && (err as { expose?: boolean }).expose !== true) message = "internal error";
    return reply.code(status).send(errorBody(status, message));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody(404, `no route ${req.method} ${req.url.split("?")[0]}`)));
}
