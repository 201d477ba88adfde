// Request validation: JSON bodies are checked strictly (a number is not a string),
// path/query/header values are coerced from text. Error messages name the field.
import { Ajv, type ErrorObject } from "ajv";
import addFormats from "ajv-formats";
import type { FastifyInstance, FastifySchema } from "fastify";
import { MAX_JSON_DEPTH, nestedDeeperThan } from "../../core/json-depth.ts";

function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    coerceTypes: coerce ? "array" : false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
  });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

const strict = makeAjv(false);
const coercing = makeAjv(true);

export function describeError(e: ErrorObject, dataVar: string): string {
  const path = dataVar + (e.instancePath ? e.instancePath.replace(/\//g, ".").replace(/^\./, "/") : "");
  const where = path.replace(/\/\./, "/");
  switch (e.keyword) {
    case "additionalProperties":
      return `${where} has unknown property "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    case "required":
      return `${where} must have required property "${(e.params as { missingProperty: string }).missingProperty}"`;
    case "enum":
      return `${where} must be one of: ${((e.params as { allowedValues: unknown[] }).allowedValues ?? []).join(", ")}`;
    default:
      return `${where} ${e.message ?? "is invalid"}`;
  }
}

export function installValidation(app: FastifyInstance): void {
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const ajv = httpPart === "body" ? strict : coercing;
    return ajv.compile(schema as object) as ReturnType<Parameters<FastifyInstance["setValidatorCompiler"]>[0]>;
  });
  app.setSchemaErrorFormatter((errors, dataVar) => {
    const first = errors[0];
    return new Error(first ? describeError(first as ErrorObject, dataVar) : `${dataVar} is invalid`);
  });
}

/**
 * The 400 message for a free-form JSON field nested deeper than MAX_JSON_DEPTH, else undefined.
 * Schemas cannot say it (`Type.Unknown()` is not walked), and recursive code downstream (the
 * stream store's JSON.stringify) overflows the stack on such a value.
 */
export function nestingError(field: string, value: unknown): string | undefined {
  return nestedDeeperThan(value, MAX_JSON_DEPTH) ? `${field} must not nest objects or arrays deeper than ${MAX_JSON_DEPTH} levels` : undefined;
}

export type { FastifySchema };
