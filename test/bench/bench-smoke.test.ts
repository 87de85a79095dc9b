/**
 * Smoke test of `npm run bench`: the overhead section with one pipeline and millisecond jobs, run as
 * a child process (on the suite's shared servers when present), must write a JSON report with every
 * figure the documentation describes, and an SVG chart. No timing is asserted.
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
    assert.match(output, /ours ÷ baseline end-to-end/, 'the table is printed');

    const files = readdirSync(outDir);
    const jsonFile = files.find((name) => name.endsWith('.json'));
    const svgFile = files.find((name) => name.endsWith('.svg'));
    assert.ok(jsonFile && svgFile, `a JSON and an SVG file are written (got ${files.join(', ')})`);
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
    assert.deepEqual(overhead.runs.map((run: { orchestrator: string }) => run.orchestrator), ['temporal', 'baseline']);
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
