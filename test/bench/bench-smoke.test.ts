/**
 * Smoke test of `npm run bench`: the overhead section with one pipeline and millisecond jobs (polling
 * and webhooks modes), then the scale and steady-state sections at toy sizes, run as child processes
 * (on the suite's shared servers when present), must write a JSON report with every figure the
 * documentation describes, issue 15's table, and an SVG chart. No timing is asserted.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

function sharedServerFlags(env: NodeJS.ProcessEnv): string[] {
  const flags: string[] = [];
  if (env['RCP_TEST_TEMPORAL_ADDRESS']) flags.push('--temporal-address', env['RCP_TEST_TEMPORAL_ADDRESS'], '--temporal-namespace', env['RCP_TEST_TEMPORAL_NAMESPACE'] || 'default');
  if (env['RCP_TEST_S3_ENDPOINT']) {
    flags.push(
      '--s3-endpoint', env['RCP_TEST_S3_ENDPOINT'],
      '--s3-bucket', env['RCP_TEST_S3_BUCKET'] ?? 'pipeline-outputs',
      '--s3-access-key-id', env['RCP_TEST_S3_ACCESS_KEY_ID'] ?? '',
      '--s3-secret-access-key', env['RCP_TEST_S3_SECRET_ACCESS_KEY'] ?? '',
    );
  }
  return flags;
}

function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench/run.ts'), ...args], {
      cwd: repoRoot,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

const isSummary = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && ['count', 'mean', 'p50', 'p95', 'p99', 'max'].every((key) => typeof (value as Record<string, unknown>)[key] === 'number');

test('the overhead section writes a report with per-step overheads for the pipeline and the baseline', { timeout: 300_000 }, async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'rcp-bench-smoke-'));
  try {
    const { code, output } = await runBench([
      '--sections', 'overhead',
      '--pipelines', '1',
      '--rounds', '1',
      '--job-ms', '200',
      '--poll-interval-ms', '100',
      '--out', outDir,
      ...sharedServerFlags(process.env),
    ]);
    assert.equal(code, 0, `the benchmark failed:\n${output.slice(-4000)}`);
    assert.match(output, /ours \(polling\) ÷ baseline end-to-end/, 'the table is printed');
    assert.match(output, /== Issue 15 figures/, "issue 15's table is printed");

    const files = readdirSync(outDir);
    const jsonFile = files.find((name) => name.endsWith('.json'));
    const svgFile = files.find((name) => name.endsWith('.svg'));
    const markdownFile = files.find((name) => name.endsWith('.md'));
    assert.ok(jsonFile && svgFile && markdownFile, `a JSON, an SVG and a Markdown file are written (got ${files.join(', ')})`);
    assert.match(readFileSync(join(outDir, markdownFile), 'utf8'), /^\| figure \| polling \| webhooks \| baseline \| target \| met\? \|\n\|---/);
    assert.match(readFileSync(join(outDir, svgFile), 'utf8'), /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<rect [\s\S]*<\/svg>\n$/);

    const report = JSON.parse(readFileSync(join(outDir, jsonFile), 'utf8'));
    assert.deepEqual(report.errors, []);
    assert.deepEqual(report.options.sections, ['overhead']);
    assert.equal(report.scale, undefined, 'only the selected section runs');
    const overhead = report.overhead;
    assert.equal(overhead.settings.pipelines, 1);
    assert.equal(overhead.settings.pollIntervalMs, 100);
    assert.equal(overhead.settings.workerSettings.POLL_INITIAL_INTERVAL_MS, '100');
    assert.equal(overhead.settings.workerSettings.POLL_MAX_INTERVAL_MS, '100');
    for (const side of ['temporal', 'baseline']) {
      const analysis = overhead[side];
      assert.equal(analysis.succeeded, 1, `${side}: the chain succeeded`);
      assert.equal(analysis.incomplete, 0, `${side}: every job was found at the emulator`);
      for (const field of ['endToEndMs', 'jobTimeMs', 'endToEndOverJobTime', 'stepOverheadMs', 'afterDetectMs', 'startToFirstSubmitMs']) {
        assert.ok(isSummary(analysis[field]), `${side}.${field} is a summary`);
      }
      assert.deepEqual(Object.keys(analysis.byTransition), ['t2i→faceswap', 'faceswap→upscale', 'upscale→i2v', 'i2v→close']);
      for (const parts of Object.values(analysis.byTransition) as Record<string, unknown>[]) {
        for (const field of ['totalMs', 'detectMs', 'persistMs', 'handoffMs']) assert.ok(isSummary(parts[field]), `${side} transition ${field}`);
      }
    }
    assert.equal(typeof overhead.ratios.endToEndMedian, 'number');
    assert.ok(overhead.ratios.endToEndMedian > 0);
    assert.deepEqual(overhead.settings.modes, ['polling', 'webhooks']);
    assert.deepEqual(overhead.runs.map((run: { orchestrator: string; mode?: string }) => run.mode ?? run.orchestrator), ['polling', 'baseline', 'webhooks']);
    assert.equal(overhead.settings.webhookWorkerSettings.WEBHOOK_SECRETS, '<redacted>', 'the webhook secret is not written to the results');
    assert.equal(overhead.settings.webhookWorkerSettings.WEBHOOK_ALLOW_HTTP, '1');
    for (const who of ['polling', 'webhooks', 'baseline']) {
      const figures = overhead.figures[who];
      assert.equal(figures.pipelines, 1, `${who}: one pipeline analysed`);
      for (const field of ['p50', 'p99', 'detectP50', 'persistP50', 'handoffP50']) assert.equal(typeof figures.stepOverheadMs[field], 'number', `${who}: step overhead ${field}`);
      assert.ok(figures.statusReadsPerJobMinute > 0, `${who}: status reads per job-minute`);
      assert.ok(figures.cpuSecondsPerPipeline.worker > 0, `${who}: CPU per pipeline`);
    }
    assert.equal(overhead.figures.baseline.endToEndOverBaseline, null);
    assert.equal(typeof overhead.figures.webhooks.endToEndOverBaseline, 'number');
    const events = overhead.figures.polling.historyEvents;
    assert.ok(events.count === 1 && events.min > 10 && events.min === events.max, `history events of the finished pipeline are counted (got ${JSON.stringify(events)})`);
    assert.ok(overhead.figures.webhooks.webhooks.deliveries > 0 && overhead.figures.webhooks.webhooks.inEffect, `the emulator's webhooks reached the worker's receiver (got ${JSON.stringify(overhead.figures.webhooks.webhooks)})`);
    const figures = report.summary.map((row: { figure: string }) => row.figure);
    for (const prefix of ['end-to-end ÷ plain script', 'start → first submit p50', 'step overhead p50 / p99', 'step overhead p99,', 'worker + Temporal server CPU-s', 'worker peak RSS', 'status reads per job-minute, steady', 'copy 1 GiB: throughput', 'copy 1 GiB: CPU-s per GiB']) {
      assert.ok(figures.some((figure: string) => figure.startsWith(prefix)), `the summary has a row "${prefix}…"`);
    }
    const ours = overhead.runs[0];
    assert.equal(ours.counters.total.acceptedJobs, 4, 'one chain = four jobs');
    assert.ok(ours.counters.total.statusReads >= 4);
    assert.equal(typeof ours.usage.worker.cpu.cpuSeconds, 'number', 'the worker process CPU is measured');
    assert.ok(ours.usage.worker.memory.peakRssBytes > 0, 'the worker process RSS is measured');
    assert.ok(ours.workerMetrics.availableNames.some((name: string) => name.startsWith('temporal_')), "Temporal's worker metrics were scraped");
    assert.equal(overhead.runs[1].counters.total.acceptedJobs, 4, 'the baseline counters exclude its warm-up chain');
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});

test('the scale and steady-state sections report per mode, and the steady section cleans up after itself', { timeout: 300_000 }, async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'rcp-bench-smoke-'));
  try {
    const { code, output } = await runBench([
      '--sections', 'scale,steady',
      '--modes', 'polling',
      '--scale-levels', '2',
      '--scale-job-ms', '300',
      '--scale-start-rate', 'all',
      '--steady-pipelines', '3',
      '--steady-job-ms', '2m',
      '--steady-start-rate', '20',
      '--steady-settle', '100ms',
      '--steady-sample', '2s',
      '--steady-mode', 'webhooks',
      '--out', outDir,
      ...sharedServerFlags(process.env),
    ]);
    assert.equal(code, 0, `the benchmark failed:\n${output.slice(-4000)}`);
    const jsonFile = readdirSync(outDir).find((name) => name.endsWith('.json'));
    assert.ok(jsonFile);
    const report = JSON.parse(readFileSync(join(outDir, jsonFile), 'utf8'));
    assert.deepEqual(report.errors, []);
    assert.deepEqual(report.scale.levels.map((level: { pipelines: number; mode: string }) => `${level.pipelines} ${level.mode}`), ['2 polling']);
    assert.equal(report.scale.levels[0].succeeded, 2);
    assert.equal(typeof report.scale.levels[0].statusReadsPerJobMinute, 'number');

    const steady = report.steady;
    assert.equal(steady.settings.mode, 'webhooks');
    assert.equal(steady.settings.workerSettings.WEBHOOK_SECRETS, '<redacted>');
    assert.ok(steady.idleWorkerRssBytes > 0 && steady.workerPeakRssBytes >= steady.steady.workerRssBytes.max, 'idle, steady and peak RSS are read');
    assert.notEqual(steady.allWaitingAfterMs, null, 'every first job ran before the sample');
    assert.deepEqual(steady.steady.jobsInFlight, { start: 3, end: 3 }, 'the jobs ran through the whole sample');
    assert.equal(typeof steady.steady.workerCpuPercent, 'number');
    assert.equal(typeof steady.steady.statusReadsPerJobMinute, 'number');
    assert.ok(Object.keys(steady.steady.slotsUsed).some((name) => name.includes('ActivityWorker')), `activity slots are observed (got ${Object.keys(steady.steady.slotsUsed).join(', ')})`);
    assert.equal(steady.cleanup.terminated, 3, 'every pipeline is terminated at the end');
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});
