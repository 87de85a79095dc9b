import { defaultFailureConverter, defaultPayloadConverter, type LoadedDataConverter } from '@temporalio/common';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressFromHistory, readPipelineHistory } from '../../src/client/history.js';
import { canonicalJson, specSha256 } from '../../src/client/spec-digest.js';
import type { PersistedOutput } from '../../src/contract/pipeline-contract.js';

const converter: LoadedDataConverter = { payloadConverter: defaultPayloadConverter, failureConverter: defaultFailureConverter, payloadCodecs: [] };
const payloads = (...values: unknown[]) => ({ payloads: values.map((value) => defaultPayloadConverter.toPayload(value)) });
const at = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });

const spec = {
  pipelineId: 'p1',
  steps: [
    { id: 'base', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'x' } },
    { id: 'swap', kind: 'faceswap', deployment: 'reactor-faceswap', params: { faceImageUrl: 'https://example.com/f.png' }, inputs: { targetImageUrl: { fromStep: 'base' } } },
    { id: 'video', kind: 'i2v', deployment: 'wan-i2v', params: { prompt: 'y' }, inputs: { imageUrl: { fromStep: 'swap' } } },
  ],
};
const output: PersistedOutput = { key: 'pipelines/p1/base/a.png', bytes: 10, sha256: 'a'.repeat(64), contentType: 'image/png', nodeId: '9', channel: 'images', filename: 'a.png', media: 'image', sourceUrl: 'https://x/a.png' };

// A history as the server keeps it: activities carry the step id as their summary, except the
// last two, scheduled without one (as an older workflow version would), which map through their input.
const events = [
  { eventId: 1, eventTime: at(1_000), workflowExecutionStartedEventAttributes: { input: payloads({ spec }) } },
  { eventId: 5, eventTime: at(2_000), userMetadata: { summary: defaultPayloadConverter.toPayload('base') }, activityTaskScheduledEventAttributes: { activityId: '1', activityType: { name: 'submitJob' }, input: payloads({ pipelineId: 'p1' }) } },
  { eventId: 7, eventTime: at(2_100), activityTaskCompletedEventAttributes: { scheduledEventId: 5, result: payloads({ requestId: 'req-base' }) } },
  { eventId: 9, eventTime: at(2_200), userMetadata: { summary: defaultPayloadConverter.toPayload('base') }, activityTaskScheduledEventAttributes: { activityId: '2', activityType: { name: 'awaitJob' }, input: payloads({ requestId: 'req-base' }) } },
  { eventId: 12, eventTime: at(3_000), userMetadata: { summary: defaultPayloadConverter.toPayload('base') }, activityTaskScheduledEventAttributes: { activityId: '3', activityType: { name: 'persistOutputs' }, input: payloads({ stepId: 'base' }) } },
  { eventId: 14, eventTime: at(3_500), activityTaskCompletedEventAttributes: { scheduledEventId: 12, result: payloads({ outputs: [output] }) } },
  { eventId: 16, eventTime: at(4_000), activityTaskScheduledEventAttributes: { activityId: '4', activityType: { name: 'submitJob' }, input: payloads({ step: { id: 'swap' } }) } },
  { eventId: 18, eventTime: at(4_100), activityTaskCompletedEventAttributes: { scheduledEventId: 16, result: payloads({ requestId: 'req-swap' }) } },
  { eventId: 19, eventTime: at(4_200), activityTaskScheduledEventAttributes: { activityId: '5', activityType: { name: 'awaitJob' }, input: payloads({ requestId: 'req-swap' }) } },
  { eventId: 21, eventTime: at(5_000), workflowExecutionSignaledEventAttributes: { signalName: 'cancelPipeline', input: payloads({ reason: 'stop' }) } },
] as unknown as Parameters<typeof readPipelineHistory>[0]; // plain numbers where the protobuf types say Long

test('history facts map activities to steps by summary, else by input, and keep persisted outputs', async () => {
  const facts = await readPipelineHistory(events, converter);
  assert.equal(facts.spec?.pipelineId, 'p1');
  assert.deepEqual([...facts.activitySteps], [['1', 'base'], ['2', 'base'], ['3', 'base'], ['4', 'swap'], ['5', 'swap']]);
  assert.equal(facts.cancelReason, 'stop');

  const running = progressFromHistory(facts, { pipelineId: 'p1', running: true, status: 'cancelling', startedAt: '2026-01-01T00:00:00.000Z' });
  assert.deepEqual(running.steps.map((s) => [s.id, s.state, s.requestId]), [['base', 'succeeded', 'req-base'], ['swap', 'waiting', 'req-swap'], ['video', 'pending', undefined]]);
  assert.deepEqual(running.steps[0]?.outputs, [output]);
  assert.equal(running.steps[0]?.startedAt, new Date(2_000).toISOString());
  assert.equal(running.steps[0]?.finishedAt, new Date(3_500).toISOString());

  const failed = progressFromHistory(facts, {
    pipelineId: 'p1',
    running: false,
    status: 'failed',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: new Date(6_000).toISOString(),
    failure: { failureType: 'RunComfyJobFailed', message: 'boom', stepId: 'swap', requestId: 'req-swap', remoteError: 'OOM' },
  });
  assert.deepEqual(failed.steps.map((s) => s.state), ['succeeded', 'failed', 'skipped']);
  assert.equal(failed.failedStepId, 'swap');
  assert.equal(failed.steps[1]?.finishedAt, new Date(6_000).toISOString(), 'a step cut short ends with the pipeline');
  assert.equal(failed.steps[2]?.finishedAt, undefined, 'a step that never started has no end either');
  assert.deepEqual(failed.steps[1]?.error, { type: 'RunComfyJobFailed', message: 'boom', requestId: 'req-swap', remoteError: 'OOM' });
});

test('a spec digest ignores key order and the signature of presigned links, nothing else', () => {
  const signed = (date: string) => `https://r2.example/bucket/inputs/abc/face.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=${date}&X-Amz-Signature=${date}ff&x-id=GetObject`;
  assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }), '{"a":[{"c":3,"d":2}],"b":1}');
  assert.equal(specSha256({ a: 1, url: signed('20260101T000000Z') }), specSha256({ url: signed('20260102T000000Z'), a: 1 }));
  assert.notEqual(specSha256({ url: signed('20260101T000000Z') }), specSha256({ url: signed('20260101T000000Z').replace('abc', 'abd') }));
  assert.notEqual(specSha256({ url: 'https://example.com/a.png?v=1' }), specSha256({ url: 'https://example.com/a.png?v=2' }));
  assert.notEqual(specSha256({ steps: [1, 2] }), specSha256({ steps: [2, 1] }));
});
