/**
 * `npm run demo -- --keep --no-worker`: the stack without a worker, and the environment it prints is
 * enough for a separately started worker (`npm run worker`) and the operator CLI (`npm run cli`).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TIMEOUT_MS = 150_000;

/** No real service configured: the demo starts everything locally. */
function localOnlyEnv(tmpDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmpDir };
  for (const name of Object.keys(env)) {
    if (/^(RUNCOMFY_|R2_|TEMPORAL_(?!CLI_PATH)|DEPLOYMENT_REGISTRY_PATH|WORKFLOW_BUNDLE_PATH|RCP_TEST_|METRICS_PORT)/.test(name)) delete env[name];
  }
  return env;
}

interface StackOnlyJson {
  status: string;
  stack: { workerEnv: Record<string, string>; cliEnv: Record<string, string>; temporal: { address: string; namespace: string; taskQueue: string } };
}

async function workflowPollers(address: string, namespace: string, taskQueue: string): Promise<number> {
  const connection = await Connection.connect({ address });
  try {
    const response = await connection.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue }, taskQueueType: 1 });
    return response.pollers?.length ?? 0;
  } finally {
    await connection.close();
  }
}

test('demo --keep --no-worker starts the stack only and prints what a separate worker and the CLI need', { timeout: TIMEOUT_MS }, async () => {
  const tmpDir = mkdtempSync(join(tmpdir(), 'demo-no-worker-'));
  const children: ChildProcess[] = [];
  after(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(tmpDir, { recursive: true, force: true });
  });
  const demo = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--json', '--keep', '--no-worker'], { cwd: PROJECT_ROOT, env: localOnlyEnv(tmpDir), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(demo);
  let stdout = '';
  let stderr = '';
  demo.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const demoExited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
  const doc = await new Promise<StackOnlyJson>((resolve, reject) => {
    demo.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      try {
        resolve(JSON.parse(stdout) as StackOnlyJson);
      } catch {
        // not complete yet
      }
    });
    demo.once('exit', (code) => reject(new Error(`the demo exited (${code}) before printing its stack; stderr:\n${stderr}`)));
  });
  assert.equal(doc.status, 'stack-only');
  assert.match(stderr, /worker {8}none \(--no-worker\)/);
  assert.match(stderr, /Start a worker for it from another terminal:[\s\S]*npm run worker/);
  const { address, namespace, taskQueue } = doc.stack.temporal;
  for (const name of ['TEMPORAL_ADDRESS', 'TEMPORAL_TASK_QUEUE', 'R2_ENDPOINT', 'R2_BUCKET', 'R2_ACCESS_KEY_ID', 'R2_SECRET_ACCESS_KEY', 'RUNCOMFY_BASE_URL', 'RUNCOMFY_TOKEN']) {
    assert.ok(doc.stack.workerEnv[name], `the worker environment names ${name}`);
  }
  assert.equal(await workflowPollers(address, namespace, taskQueue), 0, 'no worker polls the task queue');

  // A worker started from the printed environment alone (as `npm run worker` would be).
  const workerEnv = { ...localOnlyEnv(tmpDir), ...doc.stack.workerEnv, METRICS_PORT: '0', TEMPORAL_METRICS_PORT: '0' };
  const worker = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], { cwd: PROJECT_ROOT, env: workerEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(worker);
  let workerLog = '';
  worker.stderr.on('data', (chunk: Buffer) => (workerLog += chunk.toString()));
  const deadline = Date.now() + 90_000;
  while ((await workflowPollers(address, namespace, taskQueue)) === 0) {
    assert.ok(worker.exitCode === null, `the worker exited (${worker.exitCode}):\n${workerLog}`);
    assert.ok(Date.now() < deadline, `no worker polled ${taskQueue} within 90 s:\n${workerLog}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }

  // The operator CLI with the printed CLI environment.
  const cli = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'list'], { cwd: PROJECT_ROOT, env: { ...localOnlyEnv(tmpDir), ...doc.stack.cliEnv } });
  assert.equal(typeof cli.stdout, 'string');

  const workerExited = new Promise((resolve) => worker.once('exit', resolve));
  worker.kill('SIGTERM');
  await workerExited;
  demo.kill('SIGINT');
  assert.equal(await demoExited, 0, `Ctrl-C ends a stack-only demo cleanly; stderr:\n${stderr}`);
  assert.match(stderr, /stopped Temporal, S3 server, emulator in/);
});
