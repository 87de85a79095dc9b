/**
 * The persist activity with a recording store (no servers): the download gets RunComfy's URL as
 * given, history gets it without its query; a refused source becomes a typed, non-retryable
 * failure naming the step, the request and the host.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPersistOutputs } from '../../src/activities/persist-outputs.js';
import type { ActivityDeps } from '../../src/activities/deps.js';
import type { PersistOutputsInput } from '../../src/contract/activity-contract.js';
import { OutputSourceRejectedError } from '../../src/storage/source-errors.js';

const signedUrl = 'https://cdn.example.com/out/ComfyUI_00001_.png?X-Amz-Signature=deadbeef&token=secret-token';

function deps(persistFromUrl: ActivityDeps['store']['persistFromUrl']): ActivityDeps {
  return {
    store: { persistFromUrl, presignGet: () => Promise.resolve('unused') },
    settings: { maxConcurrentCopies: 1 },
  } as unknown as ActivityDeps;
}

const input: PersistOutputsInput = {
  pipelineId: 'p1',
  stepId: 't2i',
  requestId: 'req-42',
  outputs: [{ nodeId: '9', channel: 'images', filename: 'ComfyUI_00001_.png', url: signedUrl, media: 'image' }],
};

test('the download uses the URL as given; the stored sourceUrl keeps no query', async () => {
  const requested: string[] = [];
  const persist = createPersistOutputs(
    deps(async (args) => {
      requested.push(args.sourceUrl);
      return { key: args.key, bytes: 3, sha256: 'a'.repeat(64), contentType: 'image/png', alreadyPresent: false };
    }),
  );
  const result = (await new MockActivityEnvironment().run(persist, input)) as Awaited<ReturnType<typeof persist>>;
  assert.deepEqual(requested, [signedUrl]);
  assert.equal(result.outputs[0]!.sourceUrl, 'https://cdn.example.com/out/ComfyUI_00001_.png?…');
  assert.doesNotMatch(JSON.stringify(result), /deadbeef|secret-token/);
});

test('a refused source fails typed and non-retryable, naming step, request and host', async () => {
  const persist = createPersistOutputs(
    deps(async (args) => {
      throw new OutputSourceRejectedError({ message: `output source for "${args.key}" refused: host "169.254.169.254": 169.254.169.254 is a link-local address`, key: args.key, host: '169.254.169.254', reason: 'link-local' });
    }),
  );
  await assert.rejects(new MockActivityEnvironment().run(persist, input), (error: unknown) => {
    assert.ok(error instanceof ApplicationFailure);
    assert.equal(error.type, 'OutputSourceRejected');
    assert.equal(error.nonRetryable, true);
    assert.match(error.message, /step "t2i" \(RunComfy request req-42\).*host "169\.254\.169\.254"/);
    assert.doesNotMatch(JSON.stringify(error.details), /deadbeef|secret-token/);
    return true;
  });
});
