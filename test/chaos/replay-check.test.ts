/**
 * The `replays` invariant: a recorded history replays; the same history with one command changed does
 * not, and is named. The history is one from before slot-free waiting, kept to replay for good.
 */
import proto from '@temporalio/proto';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkReplays } from '../../chaos/replay-check.js';
import { workflowsPath } from '../../src/worker/workflow-code.js';
import { HISTORIES_DIR } from '../support/histories.js';

const WORKFLOWS = { workflowsPath };

test('a history that replays passes; one whose commands differ from the code is a violation naming the pipeline', async () => {
  const recorded = JSON.parse(readFileSync(`${HISTORIES_DIR}/polled-default-chain.json`, 'utf8')) as { events: { activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }[] };
  const tampered = structuredClone(recorded);
  const scheduled = tampered.events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
  assert.ok(scheduled, 'the recorded history schedules an activity');
  scheduled.activityTaskScheduledEventAttributes!.activityType!.name = 'notAnActivityOfThisCode';
  const histories = new Map([
    ['pipeline-good', proto.temporal.api.history.v1.History.fromObject(recorded)],
    ['pipeline-bad', proto.temporal.api.history.v1.History.fromObject(tampered)],
  ]);
  const problems = await checkReplays(WORKFLOWS, histories);
  assert.deepEqual(problems.map((p) => p.pipelineId), ['bad']);
  assert.match(problems[0]!.evidence, /does not replay .*[Nn]ondetermin/);
});
