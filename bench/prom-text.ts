/**
 * Reads Prometheus text exposition (the worker's /metrics and Temporal's core metrics) into samples,
 * and turns two scrapes of a histogram into the distribution of what happened between them.
 */

/** One sample line: `name{labels} value`. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parsePromText(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, '$1');
    const value = match[3] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[3]);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** Fetches and parses a /metrics URL; undefined when it does not answer. */
export async function scrape(url: string | undefined): Promise<PromSample[] | undefined> {
  if (!url) return undefined;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) return undefined;
    return parsePromText(await response.text());
  } catch {
    return undefined;
  }
}

function matches(sample: PromSample, labels: Record<string, string>): boolean {
  return Object.entries(labels).every(([k, v]) => sample.labels[k] === v);
}

/** Sum of every sample of `name` whose labels include `labels`. */
export function sumOf(samples: readonly PromSample[] | undefined, name: string, labels: Record<string, string> = {}): number | undefined {
  if (!samples) return undefined;
  const picked = samples.filter((s) => s.name === name && matches(s, labels));
  return picked.length === 0 ? undefined : picked.reduce((total, s) => total + s.value, 0);
}

/** Names present in a scrape, for discovering what an exporter offers. */
export function metricNames(samples: readonly PromSample[] | undefined): string[] {
  return [...new Set((samples ?? []).map((s) => s.name))].sort();
}

/** What a histogram recorded between two scrapes. */
export interface HistogramDelta {
  count: number;
  /** In the histogram's unit (Temporal's core reports milliseconds; prom-client seconds). */
  mean: number;
  /** Upper bound of the bucket holding the median / 99th percentile (bucket resolution). */
  p50UpperBound: number;
  p99UpperBound: number;
}

/** The difference of histogram `name` (summed over label sets that include `labels`) between two scrapes. */
export function histogramDelta(
  before: readonly PromSample[] | undefined,
  after: readonly PromSample[] | undefined,
  name: string,
  labels: Record<string, string> = {},
  /** Multiplies values and bounds, e.g. 1000 for a histogram in seconds read as milliseconds. */
  scale = 1,
): HistogramDelta | undefined {
  if (!after) return undefined;
  const bucketTotals = (samples: readonly PromSample[] | undefined): Map<number, number> => {
    const totals = new Map<number, number>();
    for (const s of samples ?? []) {
      if (s.name !== `${name}_bucket` || !matches(s, labels)) continue;
      const le = s.labels['le'] === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels['le']);
      totals.set(le, (totals.get(le) ?? 0) + s.value);
    }
    return totals;
  };
  const b0 = bucketTotals(before);
  const b1 = bucketTotals(after);
  if (b1.size === 0) return undefined;
  const count = (sumOf(after, `${name}_count`, labels) ?? 0) - (sumOf(before, `${name}_count`, labels) ?? 0);
  const sum = (sumOf(after, `${name}_sum`, labels) ?? 0) - (sumOf(before, `${name}_sum`, labels) ?? 0);
  const cumulative = [...b1.entries()].map(([le, v]) => [le, v - (b0.get(le) ?? 0)] as const).sort((a, b) => a[0] - b[0]);
  const bound = (fraction: number): number => {
    const target = fraction * count;
    for (const [le, c] of cumulative) if (c >= target) return le * scale;
    return Number.POSITIVE_INFINITY;
  };
  return { count, mean: count > 0 ? Math.round(((sum * scale) / count) * 100) / 100 : Number.NaN, p50UpperBound: bound(0.5), p99UpperBound: bound(0.99) };
}
