import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gpuFactsOf } from '../../src/pipeline/gpu-facts.js';

const step = (attempts: Record<string, unknown>[], state = 'succeeded') => ({ id: 't2i', kind: 't2i', deploymentKey: 'flux-t2i', state, attempts: attempts as never });

test("run seconds come from RunComfy's created_at/finished_at when its result gave them, less the queue time observed", () => {
  const facts = gpuFactsOf({
    steps: [
      step([
        {
          attempt: 1,
          requestId: 'r1',
          status: 'succeeded',
          submittedAt: '2026-01-01T00:00:00.000Z',
          runStartedAt: '2026-01-01T00:00:02.000Z',
          // Observed late by a slow poll: the observed run would be 9 s.
          finishedAt: '2026-01-01T00:00:11.000Z',
          remoteCreatedAt: '2026-01-01T00:00:00.200Z',
          remoteFinishedAt: '2026-01-01T00:00:07.200Z',
        },
      ]),
    ],
  });
  const attempt = facts.steps[0]!.attempts[0]!;
  assert.equal(attempt.timing, 'runcomfy-timestamps');
  assert.equal(attempt.queueSeconds, 2);
  assert.equal(attempt.runSeconds, 5);
  assert.equal(facts.timing, 'runcomfy-timestamps');
});

test('without RunComfy timestamps the facts use status transitions; a mix is called mixed; unsubmitted attempts do not count', () => {
  const observed = { attempt: 1, requestId: 'r1', status: 'cancelled', submittedAt: '2026-01-01T00:00:00.000Z', runStartedAt: '2026-01-01T00:00:01.000Z', finishedAt: '2026-01-01T00:00:04.500Z' };
  const remote = { attempt: 2, requestId: 'r2', status: 'succeeded', submittedAt: '2026-01-01T00:01:00.000Z', runStartedAt: '2026-01-01T00:01:01.000Z', finishedAt: '2026-01-01T00:01:05.000Z', remoteCreatedAt: '2026-01-01T00:01:00.000Z', remoteFinishedAt: '2026-01-01T00:01:03.000Z' };
  const only = gpuFactsOf({ steps: [step([observed], 'cancelled'), { ...step([{ attempt: 1, status: 'submitting' }], 'cancelled'), id: 'upscale' }] });
  assert.equal(only.timing, 'status-transitions');
  assert.equal(only.steps[0]!.attempts[0]!.runSeconds, 3.5);
  assert.equal(only.steps[1]!.attempts[0]!.timing, 'status-transitions');
  const mixed = gpuFactsOf({ steps: [step([observed, remote])] });
  assert.equal(mixed.timing, 'mixed');
  assert.equal(mixed.steps[0]!.runSeconds, 3.5 + 2);
});
