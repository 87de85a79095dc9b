import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blockedSteps, defaultPipelineSpec, parsePipelineSpec, readySteps } from '../../src/pipeline/index.js';
import type { PipelineSpec } from '../../src/pipeline/index.js';

const chain = parsePipelineSpec(defaultPipelineSpec({ pipelineId: 'chain', prompt: 'p', faceImageUrl: 'https://e.com/face.png' }));

/**
 * Two branches after one t2i: swap → upscale, and a video straight from t2i; a final generic step
 * needs both branches. Listed out of dependency order on purpose.
 */
const dag: PipelineSpec = parsePipelineSpec({
  pipelineId: 'dag',
  steps: [
    { id: 'merge', kind: 'generic', deployment: 'g', params: {}, inputs: { imageUrl: { fromStep: 'up' }, videoUrl: { fromStep: 'vid', output: 'video' } } },
    { id: 'up', kind: 'upscale', deployment: 'u', params: {}, inputs: { imageUrl: { fromStep: 'swap' } } },
    { id: 'gen', kind: 't2i', deployment: 't', params: { prompt: 'x' } },
    { id: 'vid', kind: 'i2v', deployment: 'v', params: {}, inputs: { imageUrl: { fromStep: 'gen' } } },
    { id: 'swap', kind: 'faceswap', deployment: 'f', params: { faceImageUrl: 'https://e.com/f.png' }, inputs: { targetImageUrl: { fromStep: 'gen' } } },
  ],
});

const ids = (steps: readonly { id: string }[]) => steps.map((step) => step.id);

describe('readySteps', () => {
  it('walks a chain one step at a time', () => {
    const done = new Set<string>();
    const started: string[][] = [];
    for (;;) {
      const ready = ids(readySteps(chain, done, new Set()));
      if (ready.length === 0) break;
      started.push(ready);
      for (const id of ready) done.add(id);
    }
    assert.deepEqual(started, [['t2i'], ['faceswap'], ['upscale'], ['i2v']]);
    assert.deepEqual(ids(readySteps(chain, new Set(['t2i']), new Set(['faceswap']))), [], 'a running step is not ready again');
  });

  it('starts both branches of a DAG as soon as their inputs exist', () => {
    assert.deepEqual(ids(readySteps(dag, new Set(), new Set())), ['gen']);
    // Both branches become ready together, listed in spec order.
    assert.deepEqual(ids(readySteps(dag, new Set(['gen']), new Set())), ['vid', 'swap']);
    // The swap branch moves on while the video is still running.
    assert.deepEqual(ids(readySteps(dag, new Set(['gen', 'swap']), new Set(['vid']))), ['up']);
    // The join waits for both branches.
    assert.deepEqual(ids(readySteps(dag, new Set(['gen', 'swap', 'up']), new Set(['vid']))), []);
    assert.deepEqual(ids(readySteps(dag, new Set(['gen', 'swap', 'up', 'vid']), new Set())), ['merge']);
  });

  it('never offers a failed step again, and reports what it blocks', () => {
    const failed = new Set(['swap']);
    assert.deepEqual(ids(readySteps(dag, new Set(['gen']), new Set(), failed)), ['vid']);
    assert.deepEqual(blockedSteps(dag, failed), ['merge', 'up']);
    assert.deepEqual(blockedSteps(dag, new Set(['merge'])), []);
  });
});
