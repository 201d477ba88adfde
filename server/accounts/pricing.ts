// Money helpers and the price book: what a customer is charged for a billable event.
//
// Money is integer micro-units of the operator's currency (1 USD = 1_000_000 micros).
//
// Per pipeline the operator picks one rule:
//   { mode: "margin", margin: 0.2 }
//       charge = orchestrator cost (wei) x ethPrice (currency per ETH) / 1e18 x (1 + margin)
//   { mode: "fixed", price: 0.002, per: 1_000_000, basis: "units" }
//       charge = price x quantity / per, quantity = billing units (pixels, ms, tokens...;
//       for streams: output pixels) or, with basis "seconds", the duration in seconds
//       (price 0.01, per 60, basis "seconds" = 0.01 per minute of transcoded video).
// Charges round up to a whole micro-unit (never undercharge a non-zero event).
//
// Defaults (DEFAULT_PRICE_BOOK): currency USD, ethPrice 3000 USD/ETH, every pipeline
// `margin 0.2` (orchestrator cost + 20 %). Operators should set ethPrice to the
// real rate; Wharf does not fetch exchange rates.

export const MICROS = 1_000_000;

export function toMicros(amount: number): number {
  if (!Number.isFinite(amount)) throw new Error("amount must be a finite number");
  return Math.round(amount * MICROS);
}

export function fromMicros(micros: number): number {
  return micros / MICROS;
}

/** "12.345000" — exact decimal text for CSV and logs. */
export function formatMicros(micros: number): string {
  const neg = micros < 0;
  const abs = Math.abs(Math.trunc(micros));
  const whole = Math.floor(abs / MICROS);
  const frac = String(abs % MICROS).padStart(6, "0");
  return `${neg ? "-" : ""}${whole}.${frac}`;
}

export type PriceRule =
  | { mode: "margin"; margin: number }
  | { mode: "fixed"; price: number; per: number; basis: "units" | "seconds" };

export interface PriceBookConfig {
  currency: string;
  /** Currency units per ETH, used to convert orchestrator cost in wei. */
  ethPrice: number;
  /** Rule for pipelines without an entry. */
  default: PriceRule;
  /** Per pipeline name ("text-to-image", "live-video-to-video", "transcode", ...). */
  pipelines: Record<string, PriceRule>;
}

export const DEFAULT_PRICE_BOOK: PriceBookConfig = {
  currency: "USD",
  ethPrice: 3000,
  default: { mode: "margin", margin: 0.2 },
  pipelines: {},
};

export interface ChargeInput {
  pipeline: string;
  units?: number;
  durationMs?: number;
  /** Decimal string or bigint. */
  orchestratorCostWei?: string | bigint;
}

export function parseWei(v: string | bigint | number | undefined): bigint {
  if (v === undefined) return 0n;
  if (typeof v === "bigint") {
    if (v < 0n) throw new Error("orchestratorCostWei must not be negative");
    return v;
  }
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error("orchestratorCostWei must be a non-negative integer");
    return BigInt(v);
  }
  if (!/^\d+$/.test(v)) throw new Error(`orchestratorCostWei must be a non-negative integer string, got "${v}"`);
  return BigInt(v);
}

function ceilDiv(n: bigint, d: bigint): bigint {
  return (n + d - 1n) / d;
}

export class PriceBook {
  readonly config: PriceBookConfig;
  private readonly ethPriceMicros: bigint;

  constructor(config: Partial<PriceBookConfig> = {}) {
    this.config = {
      ...DEFAULT_PRICE_BOOK,
      ...config,
      pipelines: { ...DEFAULT_PRICE_BOOK.pipelines, ...(config.pipelines ?? {}) },
    };
    validateRule(this.config.default, "priceBook.default");
    for (const [p, r] of Object.entries(this.config.pipelines)) validateRule(r, `priceBook.pipelines.${p}`);
    if (!(this.config.ethPrice >= 0) || !Number.isFinite(this.config.ethPrice)) throw new Error("priceBook.ethPrice must be a non-negative number");
    this.ethPriceMicros = BigInt(toMicros(this.config.ethPrice));
  }

  get currency(): string {
    return this.config.currency;
  }

  ruleFor(pipeline: string): PriceRule {
    return this.config.pipelines[pipeline] ?? this.config.default;
  }

  /** Micro-units of the operator currency that `wei` is worth at ethPrice (rounded down). */
  weiToMicros(wei: bigint): number {
    return Number((wei * this.ethPriceMicros) / 10n ** 18n);
  }

  /** Customer charge in micro-units. */
  charge(input: ChargeInput): number {
    const rule = this.ruleFor(input.pipeline);
    if (rule.mode === "margin") {
      const wei = parseWei(input.orchestratorCostWei);
      const factorPpm = BigInt(Math.round((1 + rule.margin) * 1_000_000));
      const micros = ceilDiv(wei * this.ethPriceMicros * factorPpm, 10n ** 18n * 1_000_000n);
      return Number(micros);
    }
    const quantity = rule.basis === "seconds" ? (input.durationMs ?? 0) / 1000 : input.units ?? 0;
    const exact = (quantity * rule.price * MICROS) / rule.per;
    // Trim floating-point noise before rounding up (0.1 * 3 must not become 1 micro extra).
    return Math.ceil(Math.round(exact * 1000) / 1000);
  }
}

function validateRule(r: PriceRule, where: string): void {
  if (r.mode === "margin") {
    if (!Number.isFinite(r.margin) || r.margin < -1) throw new Error(`${where}.margin must be a number >= -1`);
  } else if (r.mode === "fixed") {
    if (!Number.isFinite(r.price) || r.price < 0) throw new Error(`${where}.price must be a non-negative number`);
    if (!Number.isFinite(r.per) || r.per <= 0) throw new Error(`${where}.per must be a positive number`);
    if (r.basis !== "units" && r.basis !== "seconds") throw new Error(`${where}.basis must be "units" or "seconds"`);
  } else {
    throw new Error(`${where}.mode must be "margin" or "fixed"`);
  }
}

/** Start of the UTC day / month containing t (ms). */
export function utcDayStart(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
}
export function utcMonthStart(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}
