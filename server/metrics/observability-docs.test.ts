// docs/grafana-dashboard.json and docs/prometheus-alerts.yml parse, and every metric they use is
// one Wharf exports; metric names carry their unit once and no doubled word.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
// The `yaml` package is installed as a dependency of @fastify/swagger.
import { parse as parseYaml } from "yaml";
import { registry } from "../../core/metrics.ts";

const DOCS = join(import.meta.dirname, "..", "..", "docs");
const exported = new Set(registry.getMetricsAsArray().map((m) => m.name));

/** Metric names in a PromQL expression, histogram series (_bucket/_sum/_count) mapped to their metric. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\bwharf_[a-z0-9_]+/g)].map(([m]) => (exported.has(m) ? m : m.replace(/_(bucket|sum|count)$/, "")));
}

test("every metric name has no doubled word and no doubled prefix", () => {
  for (const name of exported) {
    const words = name.split("_");
    for (let i = 1; i < words.length; i++) assert.notEqual(words[i], words[i - 1], `${name} repeats "${words[i]}"`);
    assert.ok(!name.startsWith("wharf_process_process"), name);
  }
  assert.ok(exported.has("wharf_process_cpu_seconds_total"));
  assert.ok(exported.has("wharf_signer_up"));
});

test("the Grafana dashboard parses and uses only exported metrics", () => {
  const dash = JSON.parse(readFileSync(join(DOCS, "grafana-dashboard.json"), "utf8"));
  assert.equal(dash.uid, "wharf-gateway");
  const exprs = (dash.panels as Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>)
    .filter((p) => p.type !== "row")
    .flatMap((p) => {
      assert.ok(p.targets?.length, `panel "${p.title}" has queries`);
      return p.targets!.map((t) => t.expr);
    });
  assert.ok(exprs.length >= 20);
  for (const e of exprs) for (const m of metricsIn(e)) assert.ok(exported.has(m), `unknown metric ${m} in ${e}`);
});

test("the Prometheus alert rules parse, each with a severity and a summary, on exported metrics", () => {
  const doc = parseYaml(readFileSync(join(DOCS, "prometheus-alerts.yml"), "utf8")) as { groups: Array<{ name: string; rules: Array<Record<string, any>> }> };
  const alerts = doc.groups.flatMap((g) => g.rules);
  const names = alerts.map((r) => r.alert);
  for (const wanted of ["WharfStreamDown", "WharfIngestStalled", "WharfLiveSwapStorm", "WharfAllOrchestratorsSuspended", "WharfSignerFailing", "WharfSpendCapReached"]) {
    assert.ok(names.includes(wanted), `${wanted} is defined`);
  }
  for (const r of alerts) {
    assert.equal(typeof r.expr, "string", r.alert);
    assert.ok(["critical", "warning", "info"].includes(r.labels?.severity), `${r.alert} severity`);
    assert.ok(r.annotations?.summary, `${r.alert} summary`);
    if (r.for !== undefined) assert.match(r.for, /^\d+[smh]$/, `${r.alert} for`);
    for (const m of metricsIn(r.expr)) assert.ok(exported.has(m), `unknown metric ${m} in ${r.alert}`);
  }
});
