/**
 * Status-read throughput of the RunComfy emulator.
 *
 *   npx tsx bench/emulator-status-reads.ts [--seconds 5] [--concurrency 32] [--jobs 1000] [--mode child|in-process]
 *
 * Starts the emulator (as a child process by default, so client and server do not share one event
 * loop), submits `--jobs` long-running jobs so they stay in flight (most of them queued, with
 * queue positions), then reads their status round-robin for `--seconds` with `--concurrency`
 * requests in flight over a keep-alive undici Pool, and prints reads/s and p50/p99 latency.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { EmulatorAdminClient } from '../src/emulator/admin-client.js';
import { emulatorDeploymentId } from '../src/emulator/deployment-id.js';
import { startEmulator } from '../src/emulator/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const workflowsDir = path.join(repoRoot, 'test', 'fixtures', 'comfy');
const deploymentName = 'fofr_flux_dev_fp8_t2i';
const token = 'bench-token';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '32' },
    jobs: { type: 'string', default: '1000' },
    mode: { type: 'string', default: 'child' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const jobCount = Number(values.jobs);
const mode = values.mode === 'in-process' ? 'in-process' : 'child';

async function startChild(): Promise<{ url: string; stop: () => Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/emulator/main.ts'), '--port', '0', '--token', token, '--workflows', workflowsDir, '--quiet'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`emulator exited early (${code}): ${output}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

async function startInProcess(): Promise<{ url: string; stop: () => Promise<void> }> {
  const emulator = await startEmulator({ token, workflowsDir });
  return { url: emulator.url, stop: () => emulator.close() };
}

function percentile(sorted: Float64Array, fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

const server = mode === 'child' ? await startChild() : await startInProcess();
const admin = new EmulatorAdminClient(server.url);
const deploymentId = emulatorDeploymentId(deploymentName);
// jobs run for ten minutes, so every one stays in flight; 20 instances x 50 queued each
await admin.updateDeploymentConfig(deploymentId, { max_instances: 20, queue_size: 50, timing: { durationMs: 600_000, jitterMs: 0, coldStartMs: 0 } });

const origin = new URL(server.url).origin;
const pool = new Pool(origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

const statusPaths: string[] = [];
let submitted = 0;
await Promise.all(
  Array.from({ length: Math.min(concurrency, jobCount) }, async () => {
    while (submitted < jobCount) {
      submitted++;
      const response = await pool.request({
        method: 'POST',
        path: `/prod/v1/deployments/${deploymentId}/inference`,
        headers,
        body: JSON.stringify({ overrides: { '31': { inputs: { seed: submitted } } } }),
      });
      const body = (await response.body.json()) as { status_url: string };
      statusPaths.push(new URL(body.status_url).pathname);
    }
  }),
);

const before = await admin.counters(deploymentId);
const latenciesMs = new Float64Array(4_000_000);
let reads = 0;
let failures = 0;
const startedAt = performance.now();
const deadline = startedAt + seconds * 1000;
await Promise.all(
  Array.from({ length: concurrency }, async (_, worker) => {
    let index = worker;
    while (performance.now() < deadline) {
      const path = statusPaths[index % statusPaths.length]!;
      index += concurrency;
      const sentAt = performance.now();
      const response = await pool.request({ method: 'GET', path, headers });
      await response.body.text();
      if (response.statusCode !== 200) failures++;
      if (reads < latenciesMs.length) latenciesMs[reads] = performance.now() - sentAt;
      reads++;
    }
  }),
);
const elapsedSeconds = (performance.now() - startedAt) / 1000;
const after = await admin.counters(deploymentId);
const jobs = await admin.jobs({ deploymentId });
const sorted = latenciesMs.subarray(0, Math.min(reads, latenciesMs.length)).sort();

console.log(`mode=${mode} jobs in flight=${jobs.filter((job) => job.state === 'in_queue' || job.state === 'in_progress').length} (queued ${jobs.filter((job) => job.state === 'in_queue').length}) concurrency=${concurrency} duration=${elapsedSeconds.toFixed(1)}s`);
console.log(`status reads: ${reads} (${failures} non-200), ${(reads / elapsedSeconds).toFixed(0)} reads/s, p50 ${percentile(sorted, 0.5).toFixed(2)} ms, p99 ${percentile(sorted, 0.99).toFixed(2)} ms`);
console.log(`emulator counted ${after.deployments[deploymentId]!.statusReads - before.deployments[deploymentId]!.statusReads} status reads`);

await pool.close();
await server.stop();
