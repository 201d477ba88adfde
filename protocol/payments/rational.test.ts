import assert from "node:assert/strict";
import { test } from "node:test";
import { Rational } from "./rational.ts";

test("fractions stay reduced and exact", () => {
  const r = Rational.of(150, 175).mul(Rational.of(1000));
  assert.equal(r.toString(), "6000/7");
  assert.equal(Rational.of(6, -4).toString(), "-3/2");
  assert.equal(Rational.of(0, 5).toString(), "0");
  assert.equal(Rational.of(1, 3).add(Rational.of(2, 3)).toString(), "1");
});

test("ceil and floor round towards the right side for both signs", () => {
  assert.equal(Rational.of(7, 2).ceil(), 4n);
  assert.equal(Rational.of(-7, 2).ceil(), -3n);
  assert.equal(Rational.of(7, 2).floor(), 3n);
  assert.equal(Rational.of(-7, 2).floor(), -4n);
  assert.equal(Rational.of(8, 2).ceil(), 4n);
});

test("parse reads what go's big.Rat.SetString reads for wei amounts", () => {
  assert.equal(Rational.parse("6000/7")?.toString(), "6000/7");
  assert.equal(Rational.parse("1000")?.toString(), "1000");
  assert.equal(Rational.parse("0.5")?.toString(), "1/2");
  assert.equal(Rational.parse("2e-3")?.toString(), "1/500");
  assert.equal(Rational.parse("1.5e2")?.toString(), "150");
  assert.equal(Rational.parse(".25")?.toString(), "1/4");
  for (const bad of ["", "abc", "1/0", "1/-2", "1e999999", "."]) assert.equal(Rational.parse(bad), undefined, bad);
});

test("toFixed rounds half away from zero like go's FloatString", () => {
  assert.equal(Rational.of(6000, 7).toFixed(3), "857.143");
  assert.equal(Rational.of(1, 2).toFixed(0), "1");
  assert.equal(Rational.of(-1, 2).toFixed(0), "-1");
  assert.equal(Rational.of(5).toFixed(2), "5.00");
});
