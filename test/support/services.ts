// Which shared services (PostgreSQL, Redis) a test may use: their URL, or a skip reason; never a silent skip under CI=true.
//
// Developers without the services skip these tests. CI (.ci/run sources .ci/services) starts them
// and sets CI=true, where a missing URL is a broken CI and must fail the test instead of hiding it.

export type ServiceEnv = "WHARF_TEST_DATABASE_URL" | "WHARF_TEST_REDIS_URL";

export interface ServiceRequirement {
  /** For `test(name, { skip }, fn)`: a reason when the services are missing outside CI, else false. */
  skip: string | false;
  /** The service's URL; throws (failing the test) when it is missing. */
  url(env: ServiceEnv): string;
}

export function requireServices(...envs: ServiceEnv[]): ServiceRequirement {
  const missing = envs.filter((e) => !process.env[e]);
  const inCi = process.env.CI === "true";
  return {
    skip: missing.length && !inCi ? `${missing.join(" and ")} not set (. .ci/services starts PostgreSQL and Redis and sets them)` : false,
    url(env) {
      const v = process.env[env];
      if (!v) throw new Error(`${env} is not set${inCi ? ": under CI=true the service tests must run (.ci/run sources .ci/services, which starts PostgreSQL and Redis)" : ""}`);
      return v;
    },
  };
}
