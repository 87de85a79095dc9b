import { MockActivityEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ActivityDeps, OutputStore } from '../../src/activities/deps.js';
import { createPersistOutputs } from '../../src/activities/persist-outputs.js';
import type { JobOutputRef } from '../../src/contract/activity-contract.js';

/** Records what the activity asks the store for; the real store is exercised by the end-to-end tests. */
function recordingStore(): OutputStore & { calls: { key: string; requestId?: string; stagingName?: string }[] } {
  const calls: { key: string; requestId?: string; stagingName?: string }[] = [];
  return {
    calls,
    async persistFromUrl(args) {
      calls.push({ key: args.key, ...(args.requestId ? { requestId: args.requestId } : {}), ...(args.stagingName ? { stagingName: args.stagingName } : {}) });
      return { key: args.key, bytes: 1, sha256: 'a'.repeat(64), contentType: 'image/png', alreadyPresent: false };
    },
    presignGet: () => Promise.resolve('http://127.0.0.1/unused'),
  };
}

function deps(store: OutputStore): ActivityDeps {
  return { store, settings: { maxConcurrentCopies: 2 } } as unknown as ActivityDeps;
}

const file = (filename: string): JobOutputRef => ({ nodeId: '9', channel: 'images', filename, url: `http://127.0.0.1/files/${filename}`, media: 'image' });

test('every output of a job gets its own key, even when a renamed duplicate meets a real file of that name', async () => {
  const store = recordingStore();
  const persist = createPersistOutputs(deps(store));
  const result: Awaited<ReturnType<typeof persist>> = await new MockActivityEnvironment().run(persist, {
    pipelineId: 'p1',
    stepId: 'image',
    requestId: 'req-1',
    outputs: [file('2-x.png'), file('x.png'), file('x.png'), file('x.png')],
  });
  const keys = result.outputs.map((o) => o.key);
  assert.equal(new Set(keys).size, 4, `four distinct keys: ${keys.join(', ')}`);
  for (const call of store.calls) {
    assert.equal(call.requestId, 'req-1', 'each object records its RunComfy request');
    assert.equal(call.stagingName, call.key, 'staging is named after the output key (pipeline, step, file)');
  }
});
