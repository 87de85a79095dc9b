/**
 * The CI chaos campaign: a short fixed-seed run of `npm run chaos` on its own embedded stack
 * (Temporal on a SQLite file, Ceph S3, the emulator, three worker processes), judged only by the
 * ledger, the bucket and Temporal. It must find no violation.
 *
 * Every fault kind runs except the ones in HELD_BACK (none today), each held back because it breaks an invariant
 * on main for a reason the note names; the long soak in docs/reliability.md runs them all, and the
 * violations each produced are recorded there with their seeds.
 * A quarter of the face swaps get their face uploaded with the client, passed as the r2:// reference
 * it returns (the worker presigns it at submit, so no signed URL reaches history).
 * Both submit policies run, as in the soak: 30% of the pipelines on the `resubmit` task queue, the
 * rest on `fail`. (All ran on `resubmit` while a submit could fail with a connection error after the
 * request was sent with no fault injected — seed 14, `chaos-14-0001-chain` — until submits got a
 * fresh connection each; see docs/reliability.md.)
 * Callbacks are checked in full (`--callbacks all`): the terminal event arrived and was signed, and
 * each pipeline's deliveries, grouped by webhook-id, carry sequences 1..N with no gap and the one
 * terminal event last (the default day-long delivery window never runs out here, so no gap is allowed).
 * S3 outages run, but short (≤ 10 s), to keep the campaign within three minutes; long outages are
 * left to the soak.
 * Webhooks are on (`--webhooks on`, the default): every worker serves an in-worker receiver, half of
 * them sign URLs naming it and half name a shared standalone receiver, and the webhook faults
 * (`webhook-loss`, `webhook-forgery`, `receiver-down`, `nudge-storm`) are in the mix. The waiting
 * invariants (a read for every finished job, nudged reads within reads, the end of a quiet job read
 * within the backstop, webhooks doing the work, a bounded history, no `awaitJob`, forged calls
 * refused, every history replaying on the code that wrote it) hold with them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FAULT_KINDS } from '../../chaos/options.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Kinds the CI campaign leaves out until the bug named is fixed on main. */
const HELD_BACK: Record<string, string> = {};
const CI_FAULTS = FAULT_KINDS.filter((kind) => !(kind in HELD_BACK));
const CI_SEED = 14;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runChaos(args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'chaos/main.ts', ...args], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('a bad flag or an unknown fault kind is a usage error naming it', async () => {
  const unknownFault = await runChaos(['--seed', '1', '--minutes', '1', '--faults', 'worker-kill,meteor-strike'], 60_000);
  assert.equal(unknownFault.code, 2);
  assert.match(unknownFault.stderr, /--faults: unknown fault kind "meteor-strike"/);
  const badNumber = await runChaos(['--seed', '1', '--minutes', 'soon'], 60_000);
  assert.equal(badNumber.code, 2);
  assert.match(badNumber.stderr, /--minutes: expected a number, got "soon"/);
  const unknownFlag = await runChaos(['--seed', '1', '--minutes', '1', '--wrokers', '3'], 60_000);
  assert.equal(unknownFlag.code, 2);
  assert.match(unknownFlag.stderr, /unknown flag "--wrokers"/);
  const missingSeed = await runChaos(['--minutes', '1'], 60_000);
  assert.equal(missingSeed.code, 2);
  assert.match(missingSeed.stderr, /--seed is required/);
});

test(`fixed-seed CI campaign (seed ${CI_SEED}, faults: ${CI_FAULTS.join(', ')}) finds no violation`, { timeout: 15 * 60_000 }, async (t) => {
  const run = await runChaos(
    [
      '--seed', String(CI_SEED),
      '--minutes', '2',
      '--pipelines-per-minute', '21',
      '--faults-per-minute', '10',
      '--faults', CI_FAULTS.join(','),
      '--large-output-mib', '24',
      '--max-outage-seconds', '10',
      '--uploaded-inputs', '0.25',
      '--workers', '2',
      '--resubmit-workers', '1',
      '--resubmit-share', '0.3',
      '--callbacks', 'all',
      '--webhooks', 'on',
      '--drain-minutes', '5',
      '--json',
    ],
    14 * 60_000,
  );
  const lastLine = run.stdout.trim().split('\n').at(-1) ?? '';
  let summary: {
    pipelines: number;
    faults: Record<string, number>;
    outcomes: Record<string, number>;
    violations: { invariant: string; pipelineId: string; evidence: string }[];
    waiting: { webhooks: boolean; statusReads: number; nudgedReads: number; jobsMeasured: number };
  };
  try {
    summary = JSON.parse(lastLine) as typeof summary;
  } catch {
    assert.fail(`no JSON summary (exit ${run.code}); stderr ends with:\n${run.stderr.slice(-3000)}`);
  }
  t.diagnostic(lastLine);
  const totalFaults = Object.values(summary.faults).reduce((a, b) => a + b, 0);
  assert.deepEqual(summary.violations, [], `violations found; replay with the command in each violation\n${run.stderr.slice(-2000)}`);
  assert.equal(run.code, 0);
  assert.ok(summary.pipelines >= 40, `${summary.pipelines} pipelines`);
  assert.ok(totalFaults >= 15, `${totalFaults} faults injected`);
  assert.ok(Object.keys(summary.faults).length >= 6, `fault kinds: ${Object.keys(summary.faults).join(', ')}`);
  assert.equal(summary.outcomes['running'] ?? 0, 0);
  assert.ok((summary.outcomes['succeeded'] ?? 0) > 0, 'some pipelines succeeded');
  // Webhooks did the waiting: their nudges prompted reads, and the end of every measured job was read.
  assert.equal(summary.waiting.webhooks, true);
  assert.ok(summary.waiting.jobsMeasured >= 40, `${summary.waiting.jobsMeasured} jobs measured`);
  assert.ok(summary.waiting.nudgedReads > 0 && summary.waiting.nudgedReads <= summary.waiting.statusReads, JSON.stringify(summary.waiting));
});
