/**
 * Measurement windows around a piece of a benchmark: CPU of every process of the stack, the
 * worker's RSS (sampled, plus the kernel's peak), and scrapes of the worker's Prometheus endpoints
 * (Temporal's core metrics: task slots, schedule-to-start latencies, sticky cache; prom-client's
 * event-loop lag) at the start, the end and every second in between.
 */
import type { CountersSnapshot, DeploymentCounters, EmulatorAdminClient } from '../src/emulator/index.js';
import { histogramDelta, scrape, sumOf, type HistogramDelta, type PromSample } from './prom-text.js';
import { startCpuWindow, startMachineCpuWindow, startMemoryWindow, startSelfCpuWindow, type CpuWindow, type MemoryWindow } from './proc-stats.js';
import type { BenchStack, WorkerProcess } from './stack.js';

/** CPU (and the worker's memory) of each part of the stack over one window. */
export interface StackUsage {
  worker: { cpu: CpuWindow | null; memory: MemoryWindow | null };
  /** The Temporal dev server (null when an external server was used). */
  temporalServer: CpuWindow | null;
  /** The emulator's process (null when it runs inside the driver). */
  emulator: CpuWindow | null;
  /** Ceph mon + OSD + radosgw (null when an external server was used). */
  s3Server: CpuWindow | null;
  /** The benchmark driver itself (starts, waits, listings). */
  driver: CpuWindow;
  /** The whole machine, everyone's processes included (it is shared): busy cores out of all. */
  machine: CpuWindow | null;
  /** machine − the processes above: what other work took from the same cores. */
  otherProcesses: CpuWindow | null;
}

function sumWindows(windows: (CpuWindow | null)[]): CpuWindow | null {
  const present = windows.filter((w): w is CpuWindow => w !== null);
  if (present.length === 0) return null;
  const cpuSeconds = present.reduce((sum, w) => sum + w.cpuSeconds, 0);
  const wallSeconds = present[0]!.wallSeconds;
  return { cpuSeconds: Math.round(cpuSeconds * 100) / 100, wallSeconds, cores: Math.round((cpuSeconds / wallSeconds) * 1000) / 1000 };
}

export function startUsage(stack: BenchStack, worker: WorkerProcess | undefined, sampleMs: number): { stop(): StackUsage } {
  const workerCpu = startCpuWindow(worker?.pid);
  const workerMemory = worker ? startMemoryWindow(worker.pid, sampleMs) : { stop: () => null };
  const temporal = startCpuWindow(stack.temporal.pid);
  const emulator = startCpuWindow(stack.emulator.pid);
  const s3 = stack.s3.pids.map((pid) => startCpuWindow(pid));
  const driver = startSelfCpuWindow();
  const machine = startMachineCpuWindow();
  return {
    stop() {
      const usage = {
        worker: { cpu: workerCpu.stop(), memory: workerMemory.stop() },
        temporalServer: temporal.stop(),
        emulator: emulator.stop(),
        s3Server: sumWindows(s3.map((w) => w.stop())),
        driver: driver.stop(),
        machine: machine.stop(),
      };
      const ours = [usage.worker.cpu, usage.temporalServer, usage.emulator, usage.s3Server, usage.driver].reduce((sum, w) => sum + (w?.cpuSeconds ?? 0), 0);
      const otherProcesses = usage.machine
        ? { cpuSeconds: Math.round((usage.machine.cpuSeconds - ours) * 100) / 100, wallSeconds: usage.machine.wallSeconds, cores: Math.round(((usage.machine.cpuSeconds - ours) / usage.machine.wallSeconds) * 1000) / 1000 }
        : null;
      return { ...usage, otherProcesses };
    },
  };
}

/** Lowest and highest value a gauge showed during the window. */
export interface GaugeRange {
  min: number;
  max: number;
}

/** What the worker's metrics endpoints said about one window. */
export interface WorkerMetricsReport {
  /** Histograms of Temporal's core metrics, difference between the window's end and start (milliseconds). */
  histograms: Record<string, HistogramDelta>;
  /** Activity execution time by activity type (milliseconds). */
  activityExecutionMs: Record<string, HistogramDelta>;
  /** Counters of Temporal's core metrics, difference end − start. */
  counters: Record<string, number>;
  /** Gauges sampled every second: task slots available/used, sticky cache size, pollers, event-loop lag. */
  gauges: Record<string, GaugeRange>;
  /** Metric names the core exporter offered, for reference. */
  availableNames: string[];
}

const GAUGE_PATTERNS = [/slots_available/, /slots_used/, /sticky_cache_size/, /num_pollers/, /eventloop_lag_p99_seconds$/, /eventloop_lag_max_seconds$/, /active_handles_total$/];

function gaugeKey(sample: PromSample): string {
  const labels = Object.entries(sample.labels)
    .filter(([name]) => ['worker_type', 'poller_type', 'activity_type'].includes(name))
    .map(([name, value]) => `${name}=${value}`)
    .join(',');
  return labels ? `${sample.name}{${labels}}` : sample.name;
}

/** Scrapes the worker's two endpoints now, every `intervalMs`, and at `stop()`. */
export function startWorkerMetrics(worker: WorkerProcess, intervalMs = 1_000): { stop(): Promise<WorkerMetricsReport> } {
  const gauges: Record<string, GaugeRange> = {};
  const observe = (samples: PromSample[] | undefined): void => {
    for (const sample of samples ?? []) {
      if (!GAUGE_PATTERNS.some((pattern) => pattern.test(sample.name))) continue;
      const key = gaugeKey(sample);
      const range = gauges[key];
      if (range) {
        range.min = Math.min(range.min, sample.value);
        range.max = Math.max(range.max, sample.value);
      } else {
        gauges[key] = { min: sample.value, max: sample.value };
      }
    }
  };
  const scrapeBoth = async (): Promise<{ core: PromSample[] | undefined; own: PromSample[] | undefined }> => {
    const [core, own] = await Promise.all([scrape(worker.temporalMetricsUrl), scrape(worker.metricsUrl)]);
    observe(core);
    observe(own);
    return { core, own };
  };
  const first = scrapeBoth();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void scrapeBoth().finally(() => (busy = false));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      const before = (await first).core;
      const after = (await scrapeBoth()).core;
      const histogramNames = [...new Set((after ?? []).filter((s) => s.name.endsWith('_bucket')).map((s) => s.name.slice(0, -'_bucket'.length)))];
      const histograms: Record<string, HistogramDelta> = {};
      for (const name of histogramNames) {
        const delta = histogramDelta(before, after, name);
        if (delta && delta.count > 0) histograms[name] = delta;
      }
      const activityExecutionMs: Record<string, HistogramDelta> = {};
      const executionName = histogramNames.find((name) => name.endsWith('activity_execution_latency'));
      if (executionName) {
        for (const type of new Set((after ?? []).filter((s) => s.name === `${executionName}_bucket`).map((s) => s.labels['activity_type'] ?? ''))) {
          const delta = histogramDelta(before, after, executionName, { activity_type: type });
          if (delta && delta.count > 0) activityExecutionMs[type] = delta;
        }
      }
      const counters: Record<string, number> = {};
      // Everything that is neither a histogram series nor a gauge is a counter in the core's exporter.
      const isHistogramPart = (name: string): boolean => /_(bucket|sum|count)$/.test(name);
      const counterNames = [...new Set((after ?? []).filter((s) => !isHistogramPart(s.name) && !GAUGE_PATTERNS.some((pattern) => pattern.test(s.name))).map((s) => s.name))];
      for (const name of counterNames) {
        const delta = (sumOf(after, name) ?? 0) - (sumOf(before, name) ?? 0);
        if (delta !== 0) counters[name] = delta;
      }
      return { histograms, activityExecutionMs, counters, gauges, availableNames: [...new Set((after ?? []).map((s) => s.name))].sort() };
    },
  };
}

/** Emulator counters: what happened between two snapshots, in total and per deployment. */
export interface CountersDelta {
  total: DeploymentCounters;
  deployments: Record<string, DeploymentCounters>;
}

export async function countersNow(admin: EmulatorAdminClient): Promise<CountersSnapshot> {
  return admin.counters();
}

export function countersDelta(before: CountersSnapshot, after: CountersSnapshot): CountersDelta {
  const minus = (a: DeploymentCounters | undefined, b: DeploymentCounters | undefined): DeploymentCounters => {
    const result = {} as Record<keyof DeploymentCounters, number>;
    for (const key of Object.keys(a ?? b ?? {}) as (keyof DeploymentCounters)[]) result[key] = (a?.[key] ?? 0) - (b?.[key] ?? 0);
    return result as DeploymentCounters;
  };
  const deployments: Record<string, DeploymentCounters> = {};
  for (const id of Object.keys(after.deployments)) {
    const delta = minus(after.deployments[id], before.deployments[id]);
    if (delta.acceptedJobs > 0 || delta.statusReads > 0) deployments[id] = delta;
  }
  return { total: minus(after.total, before.total), deployments };
}

/** What the Temporal dev server's own metrics said about one window (times in milliseconds). */
export interface ServerMetricsReport {
  /** Histograms summed over all label sets. */
  histograms: Record<string, HistogramDelta>;
  /** persistence_latency by operation, the operations with the most total time first. */
  persistenceByOperation: Record<string, HistogramDelta & { totalSeconds: number }>;
  /** service_latency by operation, most total time first. */
  serviceByOperation: Record<string, HistogramDelta & { totalSeconds: number }>;
  /** Gauges sampled every second. */
  gauges: Record<string, GaugeRange>;
}

const SERVER_HISTOGRAMS = [
  'task_latency_queue',
  'task_latency_processing',
  'task_latency_schedule',
  'task_latency_load',
  'task_latency',
  'task_schedule_to_start_latency',
  'task_dispatch_latency',
  'syncmatch_latency',
  'poll_latency',
  'lock_latency',
  'semaphore_latency',
  'dd_shard_io_semaphore_latency',
  'history_workflow_execution_cache_lock_hold_duration',
];
const SERVER_GAUGES = /^(approximate_backlog|approximate_backlog_age_seconds|numshards_gauge|host_rps_limit|pending_tasks|num_goroutines)$/;

// The server's histograms are in seconds.
const SECONDS_AS_MS = 1000;

/** Scrapes the dev server's Prometheus endpoint now, every `intervalMs` (gauges) and at `stop()`. */
export function startServerMetrics(url: string | undefined, intervalMs = 1_000): { stop(): Promise<ServerMetricsReport | null> } {
  if (!url) return { stop: async () => null };
  const gauges: Record<string, GaugeRange> = {};
  const observe = (samples: PromSample[] | undefined): void => {
    const totals = new Map<string, number>();
    for (const sample of samples ?? []) if (SERVER_GAUGES.test(sample.name)) totals.set(sample.name, Math.max(totals.get(sample.name) ?? 0, sample.value));
    for (const [name, value] of totals) {
      const range = gauges[name];
      if (range) {
        range.min = Math.min(range.min, value);
        range.max = Math.max(range.max, value);
      } else gauges[name] = { min: value, max: value };
    }
  };
  const first = scrape(url).then((samples) => (observe(samples), samples));
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void scrape(url)
      .then(observe)
      .finally(() => (busy = false));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      const before = await first;
      const after = await scrape(url);
      observe(after);
      if (!after) return null;
      const histograms: Record<string, HistogramDelta> = {};
      for (const name of SERVER_HISTOGRAMS) {
        const delta = histogramDelta(before, after, name, {}, SECONDS_AS_MS);
        if (delta && delta.count > 0) histograms[name] = delta;
      }
      const byOperation = (name: string): Record<string, HistogramDelta & { totalSeconds: number }> => {
        const operations = new Set(after.filter((s) => s.name === `${name}_count`).map((s) => s.labels['operation'] ?? ''));
        const rows = [...operations]
          .map((operation) => {
            const delta = histogramDelta(before, after, name, { operation }, SECONDS_AS_MS);
            const totalSeconds = (sumOf(after, `${name}_sum`, { operation }) ?? 0) - (sumOf(before, `${name}_sum`, { operation }) ?? 0);
            return { operation, delta, totalSeconds };
          })
          .filter((row) => row.delta && row.delta.count > 0)
          .sort((a, b) => b.totalSeconds - a.totalSeconds)
          .slice(0, 8);
        return Object.fromEntries(rows.map((row) => [row.operation, { ...row.delta!, totalSeconds: Math.round(row.totalSeconds * 100) / 100 }]));
      };
      return { histograms, persistenceByOperation: byOperation('persistence_latency'), serviceByOperation: byOperation('service_latency'), gauges };
    },
  };
}
