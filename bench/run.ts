/**
 * `npm run bench`: measures the pipeline on the embedded stack (Temporal dev server, local S3,
 * RunComfy emulator, one worker process) and writes results/bench-<time>.json and .svg.
 * Flags: `npm run bench -- --help`; what each section measures and the figures: docs/benchmark.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { loadRegistryFileSync } from '../src/pipeline/registry-file.js';
import type { BenchContext, WorkerProfile } from './context.js';
import { benchHelp, parseBenchOptions, type BenchOptions } from './options.js';
import { printReport, reportPanels } from './report.js';
import { runApiSection, type ApiResult } from './section-api.js';
import { runCopySection, type CopyResult } from './section-copy.js';
import { runOverheadSection, type OverheadResult } from './section-overhead.js';
import { runScaleSection, type ScaleResult } from './section-scale.js';
import { REGISTRY_PATH, REPO_ROOT, startBenchStack, startWorkerProcess, type BenchStack, type WorkerProcess } from './stack.js';
import { renderReportSvg } from './svg-chart.js';
import { storeFaceImage } from './temporal-pipelines.js';

/** Everything one run measured; the JSON file holds exactly this. */
export interface BenchReport {
  command: string;
  startedAt: string;
  finishedAt?: string;
  machine: { hostname: string; cpus: number; cpuModel: string; memoryBytes: number; node: string };
  options: BenchOptions;
  stack: { temporal: string; s3: string; s3Storage: string; emulator: string };
  overhead?: OverheadResult;
  scale?: ScaleResult;
  api?: ApiResult;
  copy?: CopyResult;
  errors: { section: string; message: string }[];
}

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${benchHelp()}`);
    return 2;
  }
  if (options.help) {
    console.log(benchHelp());
    return 0;
  }
  const runId = Date.now().toString(36);
  const outDir = resolve(REPO_ROOT, options.outDir);
  mkdirSync(outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const jsonPath = join(outDir, `bench-${stamp}.json`);
  const svgPath = join(outDir, `bench-${stamp}.svg`);
  const s3Storage = options.s3Storage ?? (options.sections.includes('copy') ? 'file' : 'memory');
  const report: BenchReport = {
    command: process.argv.length > 2 ? `npm run bench -- ${process.argv.slice(2).join(' ')}` : 'npm run bench',
    startedAt: new Date().toISOString(),
    machine: { hostname: hostname(), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryBytes: totalmem(), node: process.version },
    options,
    stack: { temporal: options.temporal ? `external ${options.temporal.address}` : 'Temporal CLI dev server (headless, SQLite in memory)', s3: options.s3 ? `external ${options.s3.endpoint}` : 'Ceph radosgw', s3Storage: options.s3 ? 'external' : s3Storage, emulator: options.emulatorMode },
    errors: [],
  };

  let stack: BenchStack | undefined;
  let worker: { profile: WorkerProfile; process: WorkerProcess } | undefined;
  let stopping: Promise<void> | undefined;
  const stopEverything = (): Promise<void> => {
    stopping ??= (async () => {
      if (worker) await worker.process.stop();
      worker = undefined;
      if (stack) await stack.stop();
      stack = undefined;
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping every server`);
    void stopEverything().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const needsWorker = options.sections.length > 0;
    const maxInFlight = Math.max(options.overhead.pipelines, ...options.scale.levels, options.api.pipelines, 1);
    log(`starting the stack (sections: ${options.sections.join(', ')})`);
    stack = await startBenchStack({
      external: { ...(options.temporal ? { temporal: options.temporal } : {}), ...(options.s3 ? { s3: options.s3 } : {}) },
      s3Storage,
      s3CapacityBytes: options.s3CapacityBytes,
      emulatorMode: options.emulatorMode,
      // Every pipeline of the largest batch may run the same step at once: nothing may queue.
      emulatorInstances: maxInFlight + 8,
      log,
    });
    const liveStack = stack;
    report.stack.s3Storage = liveStack.s3Storage.fallback ? `${liveStack.s3Storage.actual} (requested ${liveStack.s3Storage.requested}; ${liveStack.s3Storage.fallback})` : liveStack.s3Storage.actual;
    const workerSettings = (profile: WorkerProfile): Record<string, string> =>
      profile === 'fixed-poll'
        ? { POLL_INITIAL_INTERVAL_MS: String(options.overhead.pollIntervalMs), POLL_MAX_INTERVAL_MS: String(options.overhead.pollIntervalMs) }
        : {
            COPY_PART_SIZE_MB: String(options.copy.partSizeMib),
            COPY_QUEUE_SIZE: String(options.copy.queueSize),
            // The copy section's files may exceed the worker's default MAX_OUTPUT_BYTES (2 GiB).
            ...(Math.max(0, ...options.copy.sizesBytes) > 2 * 1024 ** 3 ? { MAX_OUTPUT_BYTES: String(Math.max(...options.copy.sizesBytes)) } : {}),
          };
    const faceImageUrl = await storeFaceImage(liveStack.store, `inputs/bench-${runId}/face.png`);
    const context: BenchContext = {
      options,
      stack: liveStack,
      runId,
      faceImageUrl,
      registry: loadRegistryFileSync(REGISTRY_PATH),
      log,
      workerSettings,
      async worker(profile) {
        if (worker?.profile === profile) return worker.process;
        if (worker) {
          log(`stopping the ${worker.profile} worker`);
          await worker.process.stop();
          worker = undefined;
        }
        log(`starting a worker process (${profile})`);
        const started = await startWorkerProcess(liveStack, `bench-${runId}-${profile}`, workerSettings(profile));
        worker = { profile, process: started };
        return started;
      },
    };
    if (!needsWorker) log('no section selected');

    const sections: [string, () => Promise<void>][] = [
      ['overhead', async () => void (report.overhead = await runOverheadSection(context))],
      ['scale', async () => void (report.scale = await runScaleSection(context))],
      ['api', async () => void (report.api = await runApiSection(context, report))],
      ['copy', async () => void (report.copy = await runCopySection(context))],
    ];
    for (const [name, run] of sections) {
      if (!options.sections.includes(name as BenchOptions['sections'][number])) continue;
      log(`== section ${name}`);
      try {
        await run();
      } catch (error) {
        const message = error instanceof Error ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}` : String(error);
        log(`section ${name} failed: ${message}`);
        report.errors.push({ section: name, message });
      }
      // Partial results survive a later crash.
      writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
    }
  } catch (error) {
    report.errors.push({ section: 'stack', message: error instanceof Error ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}` : String(error) });
    log(`failed: ${report.errors.at(-1)!.message}`);
  } finally {
    log('stopping every server');
    await stopEverything();
  }

  report.finishedAt = new Date().toISOString();
  writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  const subtitle = `${report.startedAt.slice(0, 19)}Z · ${report.machine.cpus} cores · ${report.command}`;
  writeFileSync(svgPath, renderReportSvg('runcomfy-pipelines benchmark', subtitle, reportPanels(report)));
  printReport(report);
  console.log(`\nresults: ${jsonPath}\nchart:   ${svgPath}`);
  return report.errors.length > 0 ? 1 : 0;
}

process.exitCode = await main();
