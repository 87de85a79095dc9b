/**
 * Section 1, overhead per step: N pipelines of the default chain on the worker versus the same N
 * chains run by a plain script (bench/baseline-chain.ts) with the same client, store and poll
 * interval, both against jobs of a fixed duration that never queue. Rounds alternate the order.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SupervisedProcess } from '../src/devstack/supervised-process.js';
import { defaultPipelineSpec } from '../src/pipeline/default-pipeline.js';
import type { PipelineSpec } from '../src/pipeline/spec.js';
import type { BaselineInput, BaselineOutput } from './baseline-chain.js';
import { analyzeChains, type ChainAnalysis, type ChainTiming } from './chain-analysis.js';
import { emulatorJobs, resetEmulator, type BenchContext } from './context.js';
import { countersDelta, countersNow, startServerMetrics, startUsage, startWorkerMetrics, type CountersDelta, type ServerMetricsReport, type StackUsage, type WorkerMetricsReport } from './measure.js';
import { REPO_ROOT, EMULATOR_TOKEN, REGISTRY_PATH } from './stack.js';
import { chainTimingFromExecution, runPipelineBatch } from './temporal-pipelines.js';
import { round } from './proc-stats.js';
import { sleep } from './stats.js';

/** One run of N chains by one orchestrator. */
export interface OverheadRun {
  orchestrator: 'temporal' | 'baseline';
  round: number;
  wallMs: number;
  usage: StackUsage;
  /** The baseline's own CPU and peak RSS (it is its own process). */
  baselineProcess?: { cpuSeconds: number; peakRssBytes: number; errors: string[] };
  workerMetrics?: WorkerMetricsReport;
  serverMetrics?: ServerMetricsReport | null;
  counters: CountersDelta;
  analysis: ChainAnalysis;
}

export interface OverheadResult {
  settings: { pipelines: number; jobMs: number; pollIntervalMs: number; rounds: number; workerSettings: Record<string, string>; baselinePoll: string };
  temporal: ChainAnalysis;
  baseline: ChainAnalysis;
  /** ours ÷ baseline. */
  ratios: { endToEndMedian: number; endToEndMean: number; endToEndP95: number };
  runs: OverheadRun[];
  /** Status reads per job of each orchestrator (emulator counters). */
  statusReadsPerJob: { temporal: number; baseline: number };
}

function specsFor(context: BenchContext, label: string, count: number): PipelineSpec[] {
  return Array.from({ length: count }, (_, i) =>
    defaultPipelineSpec({ pipelineId: `bench-${context.runId}-${label}-${i}`, prompt: `a lighthouse at dusk, variation ${i}`, faceImageUrl: context.faceImageUrl }, context.registry),
  );
}

async function runTemporal(context: BenchContext, roundIndex: number): Promise<{ run: OverheadRun; chains: ChainTiming[] }> {
  const { options, stack } = context;
  const worker = await context.worker('fixed-poll');
  const specs = specsFor(context, `oh${roundIndex}-t`, options.overhead.pipelines);
  const countersBefore = await countersNow(stack.emulator.admin);
  const usage = startUsage(stack, worker, options.sampleMs);
  const metrics = startWorkerMetrics(worker);
  const serverMetrics = startServerMetrics(stack.temporal.metricsUrl);
  const batch = await runPipelineBatch({ client: stack.client, taskQueue: worker.taskQueue, specs, startConcurrency: 16, timeoutMs: 5 * 60_000 });
  const stackUsage = usage.stop();
  const workerMetrics = await metrics.stop();
  const serverReport = await serverMetrics.stop();
  const counters = countersDelta(countersBefore, await countersNow(stack.emulator.admin));
  const chains = batch.executions.map(chainTimingFromExecution);
  const analysis = analyzeChains(chains, await emulatorJobs(context));
  const { gaps: _gaps, ...summary } = analysis;
  return {
    chains,
    run: { orchestrator: 'temporal', round: roundIndex, wallMs: batch.drainedAtMs - batch.firstStartSentAtMs, usage: stackUsage, workerMetrics, serverMetrics: serverReport, counters, analysis: summary },
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

export async function runOverheadSection(context: BenchContext): Promise<OverheadResult> {
  const { options } = context;
  await resetEmulator(context, options.overhead.jobMs);
  // Warm-up, not measured: a worker's first pipeline pays for loading code paths, opening
  // connections and filling its deployment-graph cache; a long-running worker has done all that.
  // The baseline warms up the same way inside its own process (see warmupSpecs).
  const worker = await context.worker('fixed-poll');
  context.log('overhead: warm-up pipeline');
  await runPipelineBatch({ client: context.stack.client, taskQueue: worker.taskQueue, specs: specsFor(context, 'oh-warmup', 1), startConcurrency: 1, timeoutMs: 5 * 60_000 });
  const runs: OverheadRun[] = [];
  const temporalChains: ChainTiming[] = [];
  const baselineChains: ChainTiming[] = [];
  for (let roundIndex = 0; roundIndex < options.overhead.rounds; roundIndex++) {
    const order = roundIndex % 2 === 0 ? (['temporal', 'baseline'] as const) : (['baseline', 'temporal'] as const);
    for (const orchestrator of order) {
      context.log(`overhead round ${roundIndex + 1}/${options.overhead.rounds}: ${options.overhead.pipelines} chains via ${orchestrator}`);
      const { run, chains } = orchestrator === 'temporal' ? await runTemporal(context, roundIndex) : await runBaseline(context, roundIndex);
      runs.push(run);
      (orchestrator === 'temporal' ? temporalChains : baselineChains).push(...chains);
    }
  }
  const jobs = await emulatorJobs(context);
  const { gaps: _t, ...temporal } = analyzeChains(temporalChains, jobs);
  const { gaps: _b, ...baseline } = analyzeChains(baselineChains, jobs);
  const readsPerJob = (orchestrator: 'temporal' | 'baseline'): number => {
    const of = runs.filter((run) => run.orchestrator === orchestrator);
    const reads = of.reduce((sum, run) => sum + run.counters.total.statusReads, 0);
    const accepted = of.reduce((sum, run) => sum + run.counters.total.acceptedJobs, 0);
    return round(reads / Math.max(1, accepted), 2);
  };
  return {
    settings: {
      ...options.overhead,
      workerSettings: context.workerSettings('fixed-poll'),
      baselinePoll: `status read right after submit, then every ${options.overhead.pollIntervalMs} ms until terminal (the worker's effective interval with POLL_INITIAL_INTERVAL_MS = POLL_MAX_INTERVAL_MS = ${options.overhead.pollIntervalMs})`,
    },
    temporal,
    baseline,
    ratios: {
      endToEndMedian: round(temporal.endToEndMs.p50 / baseline.endToEndMs.p50, 3),
      endToEndMean: round(temporal.endToEndMs.mean / baseline.endToEndMs.mean, 3),
      endToEndP95: round(temporal.endToEndMs.p95 / baseline.endToEndMs.p95, 3),
    },
    runs,
    statusReadsPerJob: { temporal: readsPerJob('temporal'), baseline: readsPerJob('baseline') },
  };
}
