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

test('copy progress reaches the heartbeat through the ticker, not one heartbeat per chunk', async () => {
  const chunks = 5_000;
  const chunkBytes = 64 * 1024;
  const store: OutputStore = {
    async persistFromUrl(args) {
      for (let i = 1; i <= chunks; i++) {
        args.onProgress?.(i * chunkBytes);
        if (i % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      // Long enough for a few ticks (the heartbeat timeout below makes them 100 ms apart).
      await new Promise((resolve) => setTimeout(resolve, 350));
      return { key: args.key, bytes: chunks * chunkBytes, sha256: 'b'.repeat(64), contentType: 'video/mp4', alreadyPresent: false };
    },
    presignGet: () => Promise.resolve('http://127.0.0.1/unused'),
  };
  const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 300 });
  const beats: { bytesCopied: number }[] = [];
  env.on('heartbeat', (details: { bytesCopied: number }) => beats.push({ ...details }));
  await env.run(createPersistOutputs(deps(store)), { pipelineId: 'p1', stepId: 'video', requestId: 'req-1', outputs: [file('big.mp4')] });
  assert.ok(beats.length < 20, `a handful of heartbeats for ${chunks} chunks, got ${beats.length}`);
  assert.ok(
    beats.some((beat) => beat.bytesCopied === chunks * chunkBytes),
    `the heartbeats carry the bytes copied (${beats.map((b) => b.bytesCopied).join(', ')})`,
  );
});
