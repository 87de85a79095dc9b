/** The callbacks invariant of the chaos campaign, on hand-made deliveries (no stack needed). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCallbacks, startCallbackReceiver, type CallbackFormat, type ReceivedCallback } from '../../chaos/callbacks.js';
import { Prng } from '../../chaos/prng.js';

const format: CallbackFormat = {
  verify: (headers) => headers['x-sig'] === 'ok',
  parse: (body) => JSON.parse(body) as { eventId: string; pipelineId: string; sequence: number; type: string },
  terminalTypes: ['pipeline.completed', 'pipeline.failed', 'pipeline.cancelled'],
};

function delivery(event: { eventId: string; pipelineId: string; sequence: number; type: string }, answered: number | 'stalled' = 204, sig = 'ok'): ReceivedCallback {
  return { atMs: 0, headers: { 'x-sig': sig }, body: JSON.stringify(event), answered };
}

test('duplicates are dropped; a gap, a missing terminal event or a bad signature is a problem', () => {
  const ok = [
    delivery({ eventId: 'a1', pipelineId: 'a', sequence: 1, type: 'step.started' }),
    delivery({ eventId: 'a2', pipelineId: 'a', sequence: 2, type: 'pipeline.completed' }, 503),
    delivery({ eventId: 'a2', pipelineId: 'a', sequence: 2, type: 'pipeline.completed' }),
    delivery({ eventId: 'a1', pipelineId: 'a', sequence: 1, type: 'step.started' }),
  ];
  assert.deepEqual(checkCallbacks(format, ok, ['a']), []);

  const gap = [delivery({ eventId: 'b1', pipelineId: 'b', sequence: 1, type: 'step.started' }), delivery({ eventId: 'b3', pipelineId: 'b', sequence: 3, type: 'pipeline.failed' })];
  assert.match(checkCallbacks(format, gap, ['b'])[0]!.evidence, /sequence gaps: 2 missing/);

  const noTerminal = [delivery({ eventId: 'c1', pipelineId: 'c', sequence: 1, type: 'step.started' })];
  assert.match(checkCallbacks(format, noTerminal, ['c'])[0]!.evidence, /no terminal callback/);

  const neverAcked = [delivery({ eventId: 'd1', pipelineId: 'd', sequence: 1, type: 'pipeline.cancelled' }, 'stalled')];
  assert.match(checkCallbacks(format, neverAcked, ['d'])[0]!.evidence, /never answered 2xx/);

  const forged = [delivery({ eventId: 'e1', pipelineId: 'e', sequence: 1, type: 'pipeline.completed' }, 204, 'forged')];
  const problems = checkCallbacks(format, forged, ['e']);
  assert.ok(problems.some((p) => /invalid signature/.test(p.evidence)));
  assert.ok(problems.some((p) => /no terminal callback/.test(p.evidence)));
});

test('sequences must be exactly 1..N over distinct webhook-ids, with one terminal event, last', () => {
  const ev = (pipelineId: string, n: number, type: string, sequence = n) => ({ eventId: `evt-${pipelineId}-${n}`, pipelineId, sequence, type });
  // Event ids count every event the pipeline emitted (a superseded progress event took evt-…-2 and was
  // never sent); sequences count only what was sent: no gap.
  const superseded = [delivery(ev('a', 1, 'step.started')), delivery(ev('a', 3, 'step.completed', 2)), delivery(ev('a', 4, 'pipeline.completed', 3))];
  assert.deepEqual(checkCallbacks(format, superseded, ['a']), []);

  const notFromOne = [delivery(ev('b', 2, 'step.started')), delivery(ev('b', 3, 'pipeline.completed'))];
  assert.match(checkCallbacks(format, notFromOne, ['b'])[0]!.evidence, /sequence gaps: 1 missing of 1…3/);

  const twoTerminals = [delivery(ev('c', 1, 'pipeline.failed')), delivery(ev('c', 2, 'pipeline.cancelled'))];
  assert.ok(checkCallbacks(format, twoTerminals, ['c']).some((p) => /2 terminal events/.test(p.evidence)));

  const terminalNotLast = [delivery(ev('d', 1, 'pipeline.completed')), delivery(ev('d', 2, 'step.progress'))];
  assert.match(checkCallbacks(format, terminalNotLast, ['d'])[0]!.evidence, /terminal event evt-d-1 .* is not the last/);

  const sharedSequence = [delivery(ev('e', 1, 'step.started')), delivery(ev('e', 2, 'step.progress', 1)), delivery(ev('e', 3, 'pipeline.completed', 2))];
  assert.match(checkCallbacks(format, sharedSequence, ['e'])[0]!.evidence, /sequence 1 carried by 2 events/);

  const changed = [delivery(ev('f', 1, 'pipeline.completed')), delivery(ev('f', 1, 'pipeline.completed', 2))];
  assert.ok(checkCallbacks(format, changed, ['f']).some((p) => /arrived twice with different contents/.test(p.evidence)));
});

test('the receiver fails and stalls some deliveries as the seed decides, and records all of them', async () => {
  const receiver = await startCallbackReceiver(new Prng(5), { failRate: 0.4, stallRate: 0.2, stallMs: 200 });
  try {
    const answers: (number | 'error')[] = [];
    for (let i = 0; i < 20; i += 1) {
      try {
        const res = await fetch(receiver.url, { method: 'POST', body: JSON.stringify({ i }), signal: AbortSignal.timeout(2_000) });
        answers.push(res.status);
      } catch {
        answers.push('error');
      }
    }
    assert.equal(receiver.received.length, 20);
    assert.ok(answers.includes(204) && answers.includes(503) && answers.includes('error'), `answers: ${answers.join(' ')}`);
  } finally {
    await receiver.close();
  }
});
