// Exact fractions of wei, as go-livepeer's big.Rat: ticket EVs (face x winProb / (2^256-1)),
// session balances and prices per pixel are never rounded where go-livepeer keeps them exact.

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b) [a, b] = [b, a % b];
  return a;
}

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
/** Exponents beyond this are refused: a price string must not make us allocate a huge power of ten. */
const MAX_DECIMAL_EXPONENT = 4096;

export class Rational {
  /** Reduced, den > 0. */
  readonly num: bigint;
  readonly den: bigint;

  private constructor(num: bigint, den: bigint) {
    this.num = num;
    this.den = den;
  }

  static readonly ZERO = new Rational(0n, 1n);

  static of(num: bigint | number, den: bigint | number = 1n): Rational {
    let n = BigInt(num);
    let d = BigInt(den);
    if (d === 0n) throw new RangeError("denominator is zero");
    if (d < 0n) [n, d] = [-n, -d];
    const g = gcd(n, d) || 1n;
    return new Rational(n / g, d / g);
  }

  /**
   * Parse what go's big.Rat.SetString accepts for wei amounts: "a/b", an integer, or a decimal
   * with an optional exponent ("1.5", "2e-3"). Undefined when it is none of those.
   */
  static parse(text: string): Rational | undefined {
    const s = text.trim();
    const slash = s.indexOf("/");
    if (slash >= 0) {
      const a = s.slice(0, slash);
      const b = s.slice(slash + 1);
      if (!/^[+-]?\d+$/.test(a) || !/^\d+$/.test(b) || BigInt(b) === 0n) return undefined;
      return Rational.of(BigInt(a), BigInt(b));
    }
    const m = DECIMAL.exec(s);
    if (!m || (m[2] === "" && (m[3] ?? "") === "")) return undefined;
    const frac = m[3] ?? "";
    const exp = Number(m[4] ?? "0") - frac.length;
    if (Math.abs(exp) > MAX_DECIMAL_EXPONENT) return undefined;
    let n = BigInt(`${m[2] || "0"}${frac}`);
    if (m[1] === "-") n = -n;
    return exp >= 0 ? Rational.of(n * 10n ** BigInt(exp)) : Rational.of(n, 10n ** BigInt(-exp));
  }

  add(o: Rational): Rational {
    return Rational.of(this.num * o.den + o.num * this.den, this.den * o.den);
  }
  sub(o: Rational): Rational {
    return Rational.of(this.num * o.den - o.num * this.den, this.den * o.den);
  }
  mul(o: Rational): Rational {
    return Rational.of(this.num * o.num, this.den * o.den);
  }
  div(o: Rational): Rational {
    if (o.num === 0n) throw new RangeError("division by zero");
    return Rational.of(this.num * o.den, this.den * o.num);
  }
  /** -1, 0 or 1. */
  cmp(o: Rational): number {
    const d = this.num * o.den - o.num * this.den;
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  }
  sign(): number {
    return this.num < 0n ? -1 : this.num > 0n ? 1 : 0;
  }
  isInteger(): boolean {
    return this.den === 1n;
  }
  /** Smallest integer >= this. */
  ceil(): bigint {
    const q = this.num / this.den;
    return this.num > 0n && this.num % this.den !== 0n ? q + 1n : q;
  }
  /** Largest integer <= this. */
  floor(): bigint {
    const q = this.num / this.den;
    return this.num < 0n && this.num % this.den !== 0n ? q - 1n : q;
  }
  /** go's RatString: "a" for integers, else "a/b". */
  toString(): string {
    return this.den === 1n ? this.num.toString() : `${this.num}/${this.den}`;
  }
  /** Decimal with `digits` fraction digits, rounded half away from zero (go's FloatString). */
  toFixed(digits: number): string {
    const scale = 10n ** BigInt(digits);
    const neg = this.num < 0n;
    const abs = neg ? -this.num : this.num;
    const scaled = (abs * scale * 2n + this.den) / (this.den * 2n);
    const int = scaled / scale;
    const frac = (scaled % scale).toString().padStart(digits, "0");
    return `${neg && scaled !== 0n ? "-" : ""}${int}${digits > 0 ? `.${frac}` : ""}`;
  }
}
