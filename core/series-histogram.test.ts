import { test } from "node:test";
import assert from "node:assert/strict";
import client from "prom-client";
import { SeriesHistogram } from "./series-histogram.ts";

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const config = { name: "t_http_request_duration_seconds", help: "HTTP request duration", labelNames: ["route", "method", "status"] as const, buckets: BUCKETS };

/** Both registries print the same text and the same JSON. */
async function assertSameExposition(ours: client.Registry, theirs: client.Registry): Promise<void> {
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
}

function pair() {
  const theirs = new client.Registry();
  const ours = new client.Registry();
  return { theirs, ours, reference: new client.Histogram({ ...config, registers: [theirs] }), histogram: new SeriesHistogram({ ...config, registers: [ours] }) };
}

test("the exposition is prom-client's Histogram's for the same observations, byte for byte (values on bounds, past the last, label order as given)", async () => {
  const { theirs, ours, reference, histogram } = pair();
  const values = [0, 0.001, 0.0010001, 0.003, 0.01, 0.3, 1, 9.99, 10, 10.5, 1234, 0.042];
  const sets = [
    { route: "/v1/apps/:app/run/*", method: "POST", status: "2xx" },
    { method: "GET", route: "/healthz", status: "2xx" },
    { route: 'we"ird\\\nroute', method: "GET", status: "5xx" },
  ];
  values.forEach((v, i) => {
    const labels = sets[i % sets.length]!;
    reference.observe(labels, v);
    if (i % 2) histogram.observe(labels, v);
    else histogram.series(labels).observe(v);
  });
  await assertSameExposition(ours, theirs);
  assert.match(await ours.metrics(), /t_http_request_duration_seconds_bucket\{le="\+Inf",route="\/v1\/apps\/:app\/run\/\*",method="POST",status="2xx"\} 4/);
});

test("a handle is the series of its labels: observations through it and through observe() add up", async () => {
  const { theirs, ours, reference, histogram } = pair();
  const labels = { route: "/x", method: "GET", status: "2xx" };
  const handle = histogram.series(labels);
  assert.equal(histogram.series({ ...labels }), handle);
  handle.observe(0.002);
  histogram.observe({ ...labels }, 0.2);
  reference.observe(labels, 0.002);
  reference.observe(labels, 0.2);
  await assertSameExposition(ours, theirs);
  assert.equal(handle.count, 2);
});

test("with a registry's default labels, the series' labels come after them as prom-client prints them; JSON alike", async () => {
  const { theirs, ours, reference, histogram } = pair();
  theirs.setDefaultLabels({ node: "n1" });
  ours.setDefaultLabels({ node: "n1" });
  const labels = { route: "/x", method: "GET", status: "2xx" };
  reference.observe(labels, 0.02);
  histogram.observe(labels, 0.02);
  await assertSameExposition(ours, theirs);
  assert.match(await ours.metrics(), /_sum\{node="n1",route="\/x",method="GET",status="2xx"\} 0.02/);
});

test("after a reset, series are listed in the order they are observed again, as prom-client lists them", async () => {
  const { theirs, ours, reference, histogram } = pair();
  const a = { route: "/a", method: "GET", status: "2xx" };
  const b = { route: "/b", method: "GET", status: "2xx" };
  const handleA = histogram.series(a);
  histogram.series(b); // a handle made first is not a series until observed
  for (const [labels, v] of [[a, 0.1], [b, 0.2]] as const) {
    reference.observe(labels, v);
    histogram.observe(labels, v);
  }
  reference.reset();
  histogram.reset();
  reference.observe(b, 0.3);
  histogram.observe(b, 0.3);
  reference.observe(a, 0.4);
  handleA.observe(0.4);
  await assertSameExposition(ours, theirs);
  assert.ok((await ours.metrics()).indexOf('route="/b"') < (await ours.metrics()).indexOf('route="/a"'));
});

test("as prom-client: an unknown label and a value that is not a number are refused; reset leaves no series, and handles still count", async () => {
  const { ours, histogram } = pair();
  assert.throws(() => histogram.observe({ route: "/x", nope: "1" } as never, 1), /not included in initial labelset/);
  histogram.observe({ route: "/x", method: "GET", status: "2xx" }, 1);
  assert.throws(() => histogram.observe({ route: "/x", method: "GET", status: "2xx", nope: "1" } as never, 1), /not included in initial labelset/); // a known series too
  assert.throws(() => histogram.observe({ route: "/y", method: "GET", status: "2xx" }, Number.NaN), TypeError);
  assert.doesNotMatch(await ours.metrics(), /route="\/y"/); // refused before anything was made
  assert.throws(() => histogram.observe({ route: "/x" }, Number.NaN), TypeError);
  assert.throws(() => histogram.observe({ route: "/x" }, Number.POSITIVE_INFINITY), TypeError);
  assert.throws(() => new SeriesHistogram({ ...config, labelNames: ["le"] }), /reserved/);
  assert.throws(() => new SeriesHistogram({ ...config, buckets: [1, 1] }), /ascend/);
  const handle = histogram.series({ route: "/x", method: "GET", status: "2xx" });
  handle.observe(0.5);
  histogram.observe({ route: "/x", method: "GET", status: "" }, 0.5); // "" is a value of its own, not a missing label
  assert.match(await ours.metrics(), /_count\{route="\/x",method="GET",status=""\} 1/);
  histogram.reset();
  assert.doesNotMatch(await ours.metrics(), /_bucket/);
  handle.observe(0.5);
  assert.match(await ours.metrics(), /t_http_request_duration_seconds_count\{route="\/x",method="GET",status="2xx"\} 1/);
});
