/**
 * Section 1, overhead per step: N pipelines of the default chain on the worker versus the same N
 * chains run by a plain script (bench/baseline-chain.ts) with the same client, store and poll
 * interval, both against jobs of a fixed duration that never queue. The pipelines run once per
 * wait mode (polling only; webhooks on), each round measuring every mode and the baseline, the
 * order reversed every other round.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SupervisedProcess } from '../src/devstack/supervised-process.js';
import { defaultPipelineSpec } from '../src/pipeline/default-pipeline.js';
import type { PipelineSpec } from '../src/pipeline/spec.js';
import type { PipelineResult } from '../src/contract/pipeline-contract.js';
import type { BaselineInput, BaselineOutput } from './baseline-chain.js';
import { analyzeChains, type ChainAnalysis, type ChainTiming } from './chain-analysis.js';
import { emulatorJobs, resetEmulator, workerProfile, type BenchContext } from './context.js';
import { historyEventCounts, modeFigures, type ModeFigures } from './mode-figures.js';
import type { WaitMode } from './options.js';
import { startWebhookTraffic, type WebhookTraffic } from './webhook-mode.js';
import { countersDelta, countersNow, startServerMetrics, startUsage, startWorkerMetrics, type CountersDelta, type ServerMetricsReport, type StackUsage, type WorkerMetricsReport } from './measure.js';
import { REPO_ROOT, EMULATOR_TOKEN, REGISTRY_PATH } from './stack.js';
import { chainTimingFromExecution, runPipelineBatch } from './temporal-pipelines.js';
import { round } from './proc-stats.js';
import { sleep } from './stats.js';

/** One run of N chains by one orchestrator. */
export interface OverheadRun {
  orchestrator: 'temporal' | 'baseline';
  /** How the pipelines learned of a job's end (temporal runs only). */
  mode?: WaitMode;
  round: number;
  wallMs: number;
  usage: StackUsage;
  /** The baseline's own CPU and peak RSS (it is its own process). */
  baselineProcess?: { cpuSeconds: number; peakRssBytes: number; errors: string[] };
  workerMetrics?: WorkerMetricsReport;
  serverMetrics?: ServerMetricsReport | null;
  counters: CountersDelta;
  analysis: ChainAnalysis;
  /** Events in each finished pipeline's history (temporal runs). */
  historyEvents?: number[];
  /** Webhooks sent and received (webhooks runs). */
  webhooks?: WebhookTraffic;
  /** Status reads the pipelines report in their results, and how many a webhook prompted (when results carry them). */
  pipelineReads?: { statusReads: number; nudgedReads: number };
}

/** One wait mode's pipelines, pooled over the rounds. */
export interface OverheadModeResult {
  temporal: ChainAnalysis;
  /** ours ÷ baseline. */
  ratios: { endToEndMedian: number; endToEndMean: number; endToEndP95: number };
}

export interface OverheadResult {
  settings: { pipelines: number; jobMs: number; pollIntervalMs: number; rounds: number; modes: WaitMode[]; workerSettings: Record<string, string>; webhookWorkerSettings?: Record<string, string>; baselinePoll: string };
  /** The pipelines of the first mode measured (polling, unless --modes leaves it out). */
  temporal: ChainAnalysis;
  baseline: ChainAnalysis;
  /** ours (first mode) ÷ baseline. */
  ratios: { endToEndMedian: number; endToEndMean: number; endToEndP95: number };
  /** Every mode measured, by name. */
  modes: Partial<Record<WaitMode, OverheadModeResult>>;
  /** Issue 15's figures per mode and for the baseline, side by side. */
  figures: { polling?: ModeFigures; webhooks?: ModeFigures; baseline: ModeFigures };
  runs: OverheadRun[];
  /** Status reads per job of each orchestrator (emulator counters); `temporal` is the first mode. */
  statusReadsPerJob: { temporal: number; baseline: number; webhooks?: number };
}

/** Finished pipelines whose history is read per run, to count events. */
const HISTORIES_PER_RUN = 10;

function specsFor(context: BenchContext, label: string, count: number): PipelineSpec[] {
  return Array.from({ length: count }, (_, i) =>
    defaultPipelineSpec({ pipelineId: `bench-${context.runId}-${label}-${i}`, prompt: `a lighthouse at dusk, variation ${i}`, faceImageUrl: context.faceImageUrl }, context.registry),
  );
}

/** Sums the per-attempt read counts a pipeline result carries once the workflow waits without a poll activity. */
function readsInResults(results: readonly (PipelineResult | undefined)[]): OverheadRun['pipelineReads'] | undefined {
  let statusReads = 0;
  let nudgedReads = 0;
  let seen = false;
  for (const attempt of results.flatMap((result) => result?.steps ?? []).flatMap((step) => step.attempts)) {
    const counts = attempt as { statusReads?: number; nudgedReads?: number };
    if (typeof counts.statusReads !== 'number') continue;
    seen = true;
    statusReads += counts.statusReads;
    nudgedReads += counts.nudgedReads ?? 0;
  }
  return seen ? { statusReads, nudgedReads } : undefined;
}

/** Workers (by pid) that already ran their warm-up pipeline. */
const warmedWorkers = new Set<number>();

/**
 * The mode's worker, warmed up: a worker's first pipeline pays for loading code paths, opening
 * connections and filling its deployment-graph cache, which a long-running worker has done. Not
 * measured. The baseline warms up the same way inside its own process (see warmupSpecs).
 */
async function warmWorker(context: BenchContext, mode: WaitMode): Promise<Awaited<ReturnType<BenchContext['worker']>>> {
  const worker = await context.worker(workerProfile('fixed-poll', mode));
  if (!warmedWorkers.has(worker.pid)) {
    context.log(`overhead: warm-up pipeline (${mode})`);
    await runPipelineBatch({ client: context.stack.client, taskQueue: worker.taskQueue, specs: specsFor(context, `oh-warmup-${mode[0]}${warmedWorkers.size}`, 1), startConcurrency: 1, timeoutMs: 5 * 60_000 });
    warmedWorkers.add(worker.pid);
  }
  return worker;
}

async function runTemporal(context: BenchContext, roundIndex: number, mode: WaitMode): Promise<{ run: OverheadRun; chains: ChainTiming[] }> {
  const { options, stack } = context;
  const worker = await warmWorker(context, mode);
  const specs = specsFor(context, `oh${roundIndex}-${mode === 'webhooks' ? 'w' : 't'}`, options.overhead.pipelines);
  const countersBefore = await countersNow(stack.emulator.admin);
  const webhookTraffic = mode === 'webhooks' ? startWebhookTraffic(worker) : undefined;
  const usage = startUsage(stack, worker, options.sampleMs);
  const metrics = startWorkerMetrics(worker);
  const serverMetrics = startServerMetrics(stack.temporal.metricsUrl);
  const batch = await runPipelineBatch({ client: stack.client, taskQueue: worker.taskQueue, specs, startConcurrency: 16, timeoutMs: 5 * 60_000 });
  const stackUsage = usage.stop();
  const workerMetrics = await metrics.stop();
  const serverReport = await serverMetrics.stop();
  const counters = countersDelta(countersBefore, await countersNow(stack.emulator.admin));
  const webhooks = await webhookTraffic?.stop(counters);
  const chains = batch.executions.map(chainTimingFromExecution);
  const analysis = analyzeChains(chains, await emulatorJobs(context));
  const { gaps: _gaps, ...summary } = analysis;
  const finished = batch.executions.filter((execution) => execution.status === 'COMPLETED').map((execution) => execution.workflowId);
  const historyEvents = await historyEventCounts(stack.client, finished, HISTORIES_PER_RUN);
  const pipelineReads = readsInResults(batch.executions.map((execution) => execution.result));
  if (webhooks && !webhooks.inEffect) context.log('overhead: webhooks mode, but the emulator delivered no webhook (does this worker run a receiver?)');
  return {
    chains,
    run: {
      orchestrator: 'temporal',
      mode,
      round: roundIndex,
      wallMs: batch.drainedAtMs - batch.firstStartSentAtMs,
      usage: stackUsage,
      workerMetrics,
      serverMetrics: serverReport,
      counters,
      analysis: summary,
      historyEvents,
      ...(webhooks ? { webhooks } : {}),
      ...(pipelineReads ? { pipelineReads } : {}),
    },
  };
}

async function runBaseline(context: BenchContext, roundIndex: number): Promise<{ run: OverheadRun; chains: ChainTiming[] }> {
  const { options, stack } = context;
  const specs = specsFor(context, `oh${roundIndex}-b`, options.overhead.pipelines);
  const input: BaselineInput = {
    runcomfy: { baseUrl: stack.emulator.url, token: EMULATOR_TOKEN },
    s3: stack.s3,
    registryPath: REGISTRY_PATH,
    specs,
    warmupSpecs: specsFor(context, `oh${roundIndex}-bw`, 1),
    pollIntervalMs: options.overhead.pollIntervalMs,
    // The worker's defaults (COPY_PART_SIZE_MB=8, COPY_QUEUE_SIZE=4, PRESIGN_TTL_SECONDS=86400).
    partSizeBytes: 8 * 1024 * 1024,
    queueSize: 4,
    presignTtlSeconds: 24 * 3600,
  };
  const inputPath = join(stack.workDir, `baseline-${roundIndex}-in.json`);
  const outputPath = join(stack.workDir, `baseline-${roundIndex}-out.json`);
  writeFileSync(inputPath, JSON.stringify(input));
  const proc = new SupervisedProcess({
    name: 'baseline',
    command: process.execPath,
    args: ['--import', 'tsx', join(REPO_ROOT, 'bench/baseline-chain.ts'), inputPath, outputPath],
    cwd: REPO_ROOT,
    env: process.env,
    logFile: join(stack.workDir, `baseline-${roundIndex}.log`),
  });
  while (!existsSync(`${outputPath}.ready`)) {
    if (proc.hasExited) throw new Error(`the baseline exited during its warm-up:\n${proc.logTail()}`);
    await sleep(20);
  }
  const countersBefore = await countersNow(stack.emulator.admin);
  const usage = startUsage(stack, undefined, options.sampleMs);
  const startedAt = Date.now();
  writeFileSync(`${outputPath}.go`, '');
  const exitCode = await proc.waitForExit();
  const stackUsage = usage.stop();
  if (exitCode !== 0) throw new Error(`the baseline exited with ${exitCode}:\n${proc.logTail()}`);
  const output = JSON.parse(readFileSync(outputPath, 'utf8')) as BaselineOutput;
  const counters = countersDelta(countersBefore, await countersNow(stack.emulator.admin));
  const analysis = analyzeChains(output.chains, await emulatorJobs(context));
  const { gaps: _gaps, ...summary } = analysis;
  if (output.errors.length > 0) context.log(`baseline errors: ${output.errors.slice(0, 3).join('; ')}`);
  return {
    chains: output.chains,
    run: {
      orchestrator: 'baseline',
      round: roundIndex,
      wallMs: Date.now() - startedAt,
      usage: stackUsage,
      baselineProcess: { cpuSeconds: round(output.cpuSeconds, 2), peakRssBytes: output.peakRssBytes, errors: output.errors },
      counters,
      analysis: summary,
    },
  };
}

function ratiosOf(temporal: ChainAnalysis, baseline: ChainAnalysis): OverheadModeResult['ratios'] {
  return {
    endToEndMedian: round(temporal.endToEndMs.p50 / baseline.endToEndMs.p50, 3),
    endToEndMean: round(temporal.endToEndMs.mean / baseline.endToEndMs.mean, 3),
    endToEndP95: round(temporal.endToEndMs.p95 / baseline.endToEndMs.p95, 3),
  };
}

export async function runOverheadSection(context: BenchContext): Promise<OverheadResult> {
  const { options } = context;
  const modes = options.modes;
  await resetEmulator(context, options.overhead.jobMs);
  const runs: OverheadRun[] = [];
  const chainsBy = new Map<WaitMode | 'baseline', ChainTiming[]>();
  for (let roundIndex = 0; roundIndex < options.overhead.rounds; roundIndex++) {
    // polling, baseline, webhooks; then the reverse: each mode is as often first as last, and a
    // round switches the worker's configuration once at most.
    const forward: (WaitMode | 'baseline')[] = [modes[0]!, 'baseline', ...modes.slice(1)];
    const order = roundIndex % 2 === 0 ? forward : [...forward].reverse();
    for (const who of order) {
      context.log(`overhead round ${roundIndex + 1}/${options.overhead.rounds}: ${options.overhead.pipelines} chains via ${who === 'baseline' ? 'the baseline' : `the pipeline (${who})`}`);
      const { run, chains } = who === 'baseline' ? await runBaseline(context, roundIndex) : await runTemporal(context, roundIndex, who);
      runs.push(run);
      chainsBy.set(who, [...(chainsBy.get(who) ?? []), ...chains]);
    }
  }
  const jobs = await emulatorJobs(context);
  const { gaps: _b, ...baseline } = analyzeChains(chainsBy.get('baseline') ?? [], jobs);
  const modeResults: OverheadResult['modes'] = {};
  const figures: Partial<Record<WaitMode, ModeFigures>> = {};
  for (const mode of modes) {
    const { gaps: _t, ...temporal } = analyzeChains(chainsBy.get(mode) ?? [], jobs);
    modeResults[mode] = { temporal, ratios: ratiosOf(temporal, baseline) };
    figures[mode] = modeFigures(temporal, runs.filter((run) => run.mode === mode), baseline);
  }
  const baselineRuns = runs.filter((run) => run.orchestrator === 'baseline');
  const first = modeResults[modes[0]!]!;
  const readsPerJob = (of: OverheadRun[]): number => {
    const reads = of.reduce((sum, run) => sum + run.counters.total.statusReads, 0);
    const accepted = of.reduce((sum, run) => sum + run.counters.total.acceptedJobs, 0);
    return round(reads / Math.max(1, accepted), 2);
  };
  return {
    settings: {
      ...options.overhead,
      modes,
      workerSettings: context.workerSettings('fixed-poll'),
      ...(modes.includes('webhooks') ? { webhookWorkerSettings: context.workerSettings('fixed-poll+webhooks') } : {}),
      baselinePoll: `status read right after submit, then every ${options.overhead.pollIntervalMs} ms until terminal (the worker's effective interval with POLL_INITIAL_INTERVAL_MS = POLL_MAX_INTERVAL_MS = ${options.overhead.pollIntervalMs})`,
    },
    temporal: first.temporal,
    baseline,
    ratios: first.ratios,
    modes: modeResults,
    figures: { ...figures, baseline: modeFigures(baseline, baselineRuns.map((run) => ({ ...run, processCpuSeconds: run.baselineProcess?.cpuSeconds ?? 0 })), null) },
    runs,
    statusReadsPerJob: {
      temporal: readsPerJob(runs.filter((run) => run.mode === modes[0])),
      baseline: readsPerJob(baselineRuns),
      ...(modes.includes('webhooks') ? { webhooks: readsPerJob(runs.filter((run) => run.mode === 'webhooks')) } : {}),
    },
  };
}
