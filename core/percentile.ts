// Percentiles by the nearest-rank rule, the one rule every Wharf figure (status pages, benchmarks) uses.

/**
 * The value at rank ceil(q * n) of `sorted` (ascending), q in [0, 1]: p50 of [1, 2, 3, 4] is 2,
 * p99 of 100 samples is the 99th. NaN for no samples.
 */
export function quantileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** quantileOfSorted of an unsorted sample (copied, not changed). */
export function quantile(values: readonly number[], q: number): number {
  return quantileOfSorted([...values].sort((a, b) => a - b), q);
}
