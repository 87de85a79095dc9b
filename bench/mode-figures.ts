/**
 * Issue 15's figures for one way of running the chains (the pipeline polling, the pipeline with
 * webhooks, the plain script), computed the same way for each so they sit side by side.
 */
import type { Client } from '@temporalio/client';
import type { ChainAnalysis } from './chain-analysis.js';
import type { CountersDelta, StackUsage } from './measure.js';
import { round } from './proc-stats.js';
import { mapLimited, median } from './stats.js';
import type { WebhookTraffic } from './webhook-mode.js';

/** Event counts of finished pipelines' histories. */
export interface HistoryEventCounts {
  /** Pipelines whose history was read. */
  count: number;
  min: number;
  median: number;
  max: number;
}

export interface ModeFigures {
  /** Pipelines that succeeded and were analysed. */
  pipelines: number;
  endToEndP50Ms: number;
  /** End-to-end p50 ÷ the baseline's (null for the baseline itself). */
  endToEndOverBaseline: number | null;
  startToFirstSubmitP50Ms: number;
  /** Job end at RunComfy → next step's submit, every step pooled, with its parts at p50. */
  stepOverheadMs: { p50: number; p95: number; p99: number; detectP50: number; persistP50: number; handoffP50: number };
  /**
   * CPU-seconds per 4-step pipeline: the worker process and the Temporal server (null when not
   * measured: an external server); for the baseline, its own process (`worker`) and no server.
   */
  cpuSecondsPerPipeline: { worker: number | null; temporalServer: number | null; total: number | null };
  statusReadsPerJob: number;
  /** Status reads ÷ minutes the jobs ran (the emulator's run times). */
  statusReadsPerJobMinute: number;
  historyEvents: HistoryEventCounts | null;
  /** Webhook traffic (null for polling runs and the baseline). */
  webhooks: WebhookTraffic | null;
}

/** What the figures need from each measured run of one mode. */
export interface MeasuredRun {
  usage: StackUsage;
  counters: CountersDelta;
  /** The baseline's own process CPU (instead of a worker's). */
  processCpuSeconds?: number;
  historyEvents?: number[];
  webhooks?: WebhookTraffic | null;
}

/** Reads the histories of (up to `limit` of) the given closed workflows and counts their events. */
export async function historyEventCounts(client: Client, workflowIds: readonly string[], limit: number): Promise<number[]> {
  return mapLimited(workflowIds.slice(0, limit), 8, async (workflowId) => {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    return history.events?.length ?? 0;
  });
}

export function summarizeCounts(values: readonly number[]): HistoryEventCounts | null {
  if (values.length === 0) return null;
  return { count: values.length, min: Math.min(...values), median: median(values), max: Math.max(...values) };
}

function sumTraffic(traffic: readonly (WebhookTraffic | null | undefined)[]): WebhookTraffic | null {
  const present = traffic.filter((t): t is WebhookTraffic => t !== null && t !== undefined);
  if (present.length === 0) return null;
  const received: Record<string, number> = {};
  let anyReceived = false;
  for (const t of present) {
    if (!t.received) continue;
    anyReceived = true;
    for (const [outcome, value] of Object.entries(t.received)) received[outcome] = (received[outcome] ?? 0) + value;
  }
  const sum = (field: 'attempts' | 'deliveries' | 'failures'): number => present.reduce((total, t) => total + t[field], 0);
  return { attempts: sum('attempts'), deliveries: sum('deliveries'), failures: sum('failures'), received: anyReceived ? received : null, inEffect: sum('deliveries') > 0 };
}

/** Reads per job-minute: `reads` over the minutes `jobMs` of job run time add up to. */
export function readsPerJobMinute(reads: number, jobMs: number): number {
  return jobMs > 0 ? round(reads / (jobMs / 60_000), 2) : Number.NaN;
}

export function modeFigures(analysis: ChainAnalysis, runs: readonly MeasuredRun[], baseline: ChainAnalysis | null): ModeFigures {
  const pipelines = analysis.succeeded - analysis.incomplete;
  const cpu = (pick: (run: MeasuredRun) => number | undefined): number | null => {
    const values = runs.map(pick);
    if (values.some((v) => v === undefined) || pipelines === 0) return null;
    return round((values as number[]).reduce((a, b) => a + b, 0) / pipelines, 3);
  };
  const worker = cpu((run) => run.processCpuSeconds ?? run.usage.worker.cpu?.cpuSeconds);
  const temporalServer = runs.every((run) => run.processCpuSeconds !== undefined) ? null : cpu((run) => run.usage.temporalServer?.cpuSeconds);
  const reads = runs.reduce((sum, run) => sum + run.counters.total.statusReads, 0);
  const accepted = runs.reduce((sum, run) => sum + run.counters.total.acceptedJobs, 0);
  const jobMs = analysis.jobTimeMs.mean * analysis.jobTimeMs.count;
  const history = runs.flatMap((run) => run.historyEvents ?? []);
  return {
    pipelines,
    endToEndP50Ms: analysis.endToEndMs.p50,
    endToEndOverBaseline: baseline ? round(analysis.endToEndMs.p50 / baseline.endToEndMs.p50, 3) : null,
    startToFirstSubmitP50Ms: analysis.startToFirstSubmitMs.p50,
    stepOverheadMs: {
      p50: analysis.stepOverheadMs.p50,
      p95: analysis.stepOverheadMs.p95,
      p99: analysis.stepOverheadMs.p99,
      detectP50: analysis.partsMs.detectMs.p50,
      persistP50: analysis.partsMs.persistMs.p50,
      handoffP50: analysis.partsMs.handoffMs.p50,
    },
    cpuSecondsPerPipeline: { worker, temporalServer, total: worker === null ? null : round(worker + (temporalServer ?? 0), 3) },
    statusReadsPerJob: round(reads / Math.max(1, accepted), 2),
    statusReadsPerJobMinute: readsPerJobMinute(reads, jobMs),
    historyEvents: summarizeCounts(history),
    webhooks: sumTraffic(runs.map((run) => run.webhooks)),
  };
}
