/** The campaign's flags, its replay command and its seeded plan (no stack needed). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAULT_KINDS, parseChaosArgs, replayCommand, UsageError, WEBHOOK_FAULT_KINDS } from '../../chaos/options.js';
import { Prng } from '../../chaos/prng.js';
import { planWorkload } from '../../chaos/workload.js';
import { faultsDuringLife } from '../../chaos/invariants.js';
import type { InjectedFault } from '../../chaos/faults.js';

test('the replay command parses back to the same campaign', () => {
  const options = parseChaosArgs(['--seed', '42', '--minutes', '3', '--faults', 'hang,worker-kill', '--pipelines-per-minute=12', '--uploaded-inputs', '0.5', '--json']);
  const replayArgs = replayCommand(options).replace(/^npm run chaos -- /, '').split(' ');
  const again = parseChaosArgs([...replayArgs, '--json']);
  assert.deepEqual({ ...again, drainMinutes: options.drainMinutes }, options);
});

test('flags are checked one by one, each error naming its flag', () => {
  const cases: [string[], RegExp][] = [
    [['--seed', '-1', '--minutes', '1'], /--seed: expected a value between 0/],
    [['--seed', '1.5', '--minutes', '1'], /--seed: expected a whole number/],
    [['--seed', '1', '--minutes', '1', '--workers', '1'], /--workers: expected a value between 2/],
    [['--seed', '1', '--minutes', '1', '--faults'], /--faults needs a value/],
    [['--seed', '1', '--minutes', '1', '--json=yes'], /--json takes no value/],
    [['--seed', '1'], /--minutes is required/],
    [['--seed', '1', '--minutes', '1', '--resubmit-workers', '0', '--resubmit-share', '0.5'], /--resubmit-share: .*--resubmit-workers/],
  ];
  for (const [argv, message] of cases) assert.throws(() => parseChaosArgs(argv), (e: unknown) => e instanceof UsageError && message.test(e.message), argv.join(' '));
  assert.deepEqual(parseChaosArgs(['--seed', '1', '--minutes', '1', '--faults', 'all']).faults, [...FAULT_KINDS]);
  assert.deepEqual(parseChaosArgs(['--seed', '1', '--minutes', '1', '--faults', 'none']).faults, []);
});

test('webhooks are on by default; --webhooks off leaves the webhook faults out, or refuses them when named', () => {
  const on = parseChaosArgs(['--seed', '1', '--minutes', '1']);
  assert.equal(on.webhooks, 'on');
  for (const kind of ['webhook-loss', 'webhook-forgery', 'receiver-down', 'nudge-storm'] as const) assert.ok(on.faults.includes(kind), kind);
  const off = parseChaosArgs(['--seed', '1', '--minutes', '1', '--webhooks', 'off']);
  assert.deepEqual(off.faults.filter((k) => WEBHOOK_FAULT_KINDS.has(k)), []);
  assert.ok(off.faults.includes('nudge-storm'), 'a nudge prompts a read with polling alone too');
  assert.throws(() => parseChaosArgs(['--seed', '1', '--minutes', '1', '--webhooks', 'off', '--faults', 'receiver-down']), /--faults: receiver-down need --webhooks on/);
  assert.throws(() => parseChaosArgs(['--seed', '1', '--minutes', '1', '--webhooks', 'maybe']), /--webhooks: expected on or off, got "maybe"/);
  assert.deepEqual(parseChaosArgs(['--seed', '1', '--minutes', '1', '--faults', 'nudge-storm,webhook-loss']).faults, ['nudge-storm', 'webhook-loss']);
  const replayed = parseChaosArgs(replayCommand(off).replace(/^npm run chaos -- /, '').split(' '));
  assert.equal(replayed.webhooks, 'off');
  assert.deepEqual(replayed.faults, off.faults);
});

test('a seed names one plan; another seed another', () => {
  const plan = (seed: number) =>
    planWorkload(new Prng(seed).fork('workload'), { seed, minutes: 2, pipelinesPerMinute: 20, largeOutputs: true, resubmitShare: 0.3, uploadedInputs: 0.25 });
  const a = plan(7);
  assert.deepEqual(plan(7), a);
  assert.notDeepEqual(plan(8).map((p) => [p.shape, p.policy]), a.map((p) => [p.shape, p.policy]));
  assert.equal(a.length, 40);
  assert.ok(new Set(a.map((p) => p.shape)).size === 3, 'every shape appears');
  assert.ok(a.some((p) => p.policy === 'resubmit') && a.some((p) => p.policy === 'fail'));
  assert.ok(a.every((p, i) => i === 0 || p.startAtS >= a[i - 1]!.startAtS), 'sorted by start time');
});

test('a fault armed in the same second a pipeline closed, before the close, is one of its faults', () => {
  // chaos seed 6151: a lost-response rule armed at …55.300 took the submit of a pipeline that failed at
  // …55.508; the close time, cut to the second (…55.000), had left the fault out of the pipeline's life.
  const closedAtMs = 1_000_055_508;
  const startedAtMs = 1_000_030_000;
  const lost: InjectedFault = { kind: 'lost-response', atMs: 1_000_055_300, endMs: 1_000_056_900, detail: '', lingers: true, ruleId: 'r1' };
  const later: InjectedFault = { kind: 'hang', atMs: closedAtMs + 1, detail: '' };
  const before: InjectedFault = { kind: 'worker-kill', atMs: startedAtMs - 9_000, endMs: startedAtMs - 2_000, detail: '' };
  const skipped: InjectedFault = { kind: 'server-error', atMs: startedAtMs + 1, detail: '', skipped: true };
  assert.deepEqual(faultsDuringLife([lost, later, before, skipped], startedAtMs, closedAtMs), [lost]);
  const justBefore: InjectedFault = { kind: 'worker-kill', atMs: startedAtMs - 9_000, endMs: startedAtMs - 500, detail: '' };
  assert.deepEqual(faultsDuringLife([justBefore], startedAtMs, closedAtMs), [justBefore], 'a start is recorded when asked for: a fault just over may still have met it');
});
