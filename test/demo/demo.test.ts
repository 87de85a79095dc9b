/**
 * Runs `scripts/demo.ts` as a user would (a child process that starts its own Temporal dev server,
 * S3 server and emulator) and checks its one JSON document, its exit code, and that it leaves no
 * server behind. Each run gets its own TMPDIR, so every server it starts names that folder on its
 * command line and leftovers can be found without touching other runs' servers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Short jobs: the pipeline itself takes a second or two, the servers ~15 s. */
const QUICK_JOBS = ['--job-duration', '150ms', '--jitter', '20ms', '--cold-start', '100ms', '--poll-interval', '50ms', '--output-size', '1MiB'];
/**
 * Per test: a demo on a quiet machine takes ~20 s, but the suite runs beside it and a loaded 2-core
 * machine has taken over 90 s. This only bounds a hung run; speed is measured by the benchmark.
 */
const RUN_TIMEOUT_MS = 180_000;
/**
 * Both runs start together, but the kept run is used by the second test, which starts only once the
 * first one ends: its guard must cover both tests, or it kills a kept stack the second test is about
 * to use (the Web UI link then refuses connections).
 */
const KILL_GUARD_MS = 2 * RUN_TIMEOUT_MS + 30_000;

interface DemoRun {
  tmpDir: string;
  /** Resolves with the exit code and everything written. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Resolves once stdout holds one complete JSON document. */
  json: Promise<DemoJson>;
  interrupt(): void;
}

interface DemoJson {
  status: string;
  error?: string;
  pipelineId: string;
  workflowId: string;
  runId: string;
  webUiUrl: string | null;
  steps: { id: string; kind: string; state: string; requestId: string | null; outputs: { key: string; bytes: number; sha256: string; contentType: string }[] }[];
  stack?: { temporal: { uiUrl: string | null }; s3: { endpoint: string; local: boolean }; runcomfy: { url?: string; local: boolean } };
}

/** A child environment without any real service configured, so the demo starts everything locally. */
function localOnlyEnv(tmpDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmpDir };
  for (const name of Object.keys(env)) {
    if (/^(RUNCOMFY_|R2_|TEMPORAL_(?!CLI_PATH)|DEPLOYMENT_REGISTRY_PATH|WORKFLOW_BUNDLE_PATH|RCP_TEST_)/.test(name)) delete env[name];
  }
  return env;
}

function runDemo(args: string[]): DemoRun {
  const tmpDir = mkdtempSync(join(tmpdir(), 'demo-test-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', ...args], { cwd: PROJECT_ROOT, env: localOnlyEnv(tmpDir), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let resolveJson: (doc: DemoJson) => void;
  let rejectJson: (error: Error) => void;
  const json = new Promise<DemoJson>((resolve, reject) => {
    resolveJson = resolve;
    rejectJson = reject;
  });
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    try {
      resolveJson(JSON.parse(stdout) as DemoJson);
    } catch {
      // not complete yet
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), KILL_GUARD_MS);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(killer);
      rejectJson(new Error(`the demo exited (${code ?? signal}) without a JSON document; stderr:\n${stderr}`));
      resolve({ code, signal, stdout, stderr });
    });
  });
  // Awaited by a test, or not at all when an earlier assertion failed.
  json.catch(() => undefined);
  after(async () => {
    // A test that failed early leaves its run going: stop it the way a user would.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(tmpDir, { recursive: true, force: true });
  });
  return { tmpDir, exited, json, interrupt: () => child.kill('SIGINT') };
}

/** Command lines of running processes that mention `text` (servers, their watchdogs). */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (cmdline.includes(text)) found.push(`${entry}: ${cmdline.slice(0, 200)}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

async function assertNothingLeft(tmpDir: string): Promise<void> {
  // Watchdogs notice within a second; allow a little more on a busy machine.
  const deadline = Date.now() + 5_000;
  let left = processesMentioning(tmpDir);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    left = processesMentioning(tmpDir);
  }
  assert.deepEqual(left, [], 'no process the demo started is still running');
  assert.deepEqual(readdirSync(tmpDir).filter((name) => name.startsWith('rcp-')), [], "the servers' state folders were removed");
}

function assertSucceededPipeline(doc: DemoJson): void {
  assert.equal(doc.status, 'succeeded', `the demo reported: ${doc.error ?? '(no error)'}`);
  assert.equal(doc.workflowId, `pipeline-${doc.pipelineId}`);
  assert.match(doc.runId, /^[0-9a-f-]{36}$/);
  assert.deepEqual(
    doc.steps.map((s) => [s.id, s.kind, s.state]),
    [
      ['t2i', 't2i', 'succeeded'],
      ['faceswap', 'faceswap', 'succeeded'],
      ['upscale', 'upscale', 'succeeded'],
      ['i2v', 'i2v', 'succeeded'],
    ],
  );
  for (const step of doc.steps) {
    assert.ok(step.requestId, `${step.id} names its RunComfy request`);
    assert.ok(step.outputs.length > 0, `${step.id} persisted outputs`);
    for (const output of step.outputs) {
      assert.ok(output.key.startsWith(`pipelines/${doc.pipelineId}/${step.id}/`), output.key);
      assert.ok(Number.isInteger(output.bytes) && output.bytes > 0, `${output.key} has a size`);
      assert.match(output.sha256, /^[0-9a-f]{64}$/);
      assert.match(output.contentType, /^[a-z]+\/[a-z0-9.+-]+$/);
    }
  }
  const video = doc.steps.at(-1)!.outputs.find((o) => o.contentType.startsWith('video/'));
  assert.ok(video, 'the last step produced a video');
  // --output-size pads every file, so the copy really streamed a megabyte.
  assert.equal(video.bytes, 1024 * 1024);
  assert.equal(doc.webUiUrl, `${new URL(doc.webUiUrl!).origin}/namespaces/default/workflows/${doc.workflowId}/${doc.runId}/history`);
}

// Both runs start at once: each spends most of its time waiting for its servers.
const plainRun = runDemo(['--json', ...QUICK_JOBS, '--prompt', 'a red fox in the snow']);
const keptRun = runDemo(['--json', '--keep', ...QUICK_JOBS]);

test('the demo runs the default pipeline on a stack of its own, prints one JSON document and stops everything', { timeout: RUN_TIMEOUT_MS }, async () => {
  const run = plainRun;
  const { code, stdout, stderr } = await run.exited;
  assert.equal(code, 0, `exit code 0; stderr:\n${stderr}`);
  const doc = JSON.parse(stdout) as DemoJson;
  assertSucceededPipeline(doc);
  assert.equal(doc.stack, undefined, 'no stack details without --keep');
  // Progress went to stderr: per-step lines and the links.
  assert.match(stderr, /\] i2v: succeeded \(1 output, 1\.0 MiB/);
  assert.match(stderr, /stopped client, worker, Temporal, S3 server, emulator in/);
  await assertNothingLeft(run.tmpDir);
});

test('with --keep the stack stays up (the Web UI link answers) until Ctrl-C, which stops it cleanly', { timeout: RUN_TIMEOUT_MS }, async () => {
  const run = keptRun;
  const doc = await run.json;
  assertSucceededPipeline(doc);
  const ui = await fetch(doc.webUiUrl!);
  assert.equal(ui.status, 200, 'the Web UI serves the workflow link');
  assert.match(await ui.text(), /<html/i);
  assert.ok(doc.stack?.s3.local && doc.stack.runcomfy.local, 'every part ran locally');
  const emulator = await fetch(`${doc.stack.runcomfy.url}/__admin/counters`);
  assert.equal(emulator.status, 200, 'the emulator is still up');
  await emulator.arrayBuffer();

  run.interrupt();
  const { code, stderr } = await run.exited;
  assert.equal(code, 0, `a kept stack stopped with Ctrl-C after a successful pipeline exits 0; stderr:\n${stderr}`);
  assert.match(stderr, /stopped client, worker, Temporal, S3 server, emulator in/);
  await assertNothingLeft(run.tmpDir);
  await assert.rejects(fetch(doc.webUiUrl!), 'the Web UI is gone');
});
