import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineSpecError, buildOverrides, parsePipelineSpec, pickStepOutput, resolveStepParams } from '../../src/pipeline/index.js';
import type { DeploymentEntry } from '../../src/pipeline/index.js';

const entry: DeploymentEntry = {
  deploymentId: 'dep-flux',
  kind: 't2i',
  bindings: {
    prompt: { nodeId: '68:6', inputKey: 'text' },
    seed: { nodeId: '68:31', inputKey: 'seed' },
    steps: { nodeId: '68:31', inputKey: 'steps' },
    width: { nodeId: '27', inputKey: 'width' },
  },
  budgets: { queueTimeoutMs: 600_000, runTimeoutMs: 300_000 },
};

describe('buildOverrides', () => {
  it('targets compound node ids and merges parameters of the same node', () => {
    assert.deepEqual(buildOverrides(entry, { prompt: 'a fox', seed: 12, steps: 20 }), {
      '68:6': { inputs: { text: 'a fox' } },
      '68:31': { inputs: { seed: 12, steps: 20 } },
    });
  });

  it('leaves unset parameters out entirely', () => {
    assert.deepEqual(buildOverrides(entry, { width: 512 }), { '27': { inputs: { width: 512 } } });
    assert.deepEqual(buildOverrides(entry, {}), {});
  });

  it('names every unknown parameter, including inherited names', () => {
    assert.throws(
      () => buildOverrides(entry, { prompt: 'x', guidance: 3.5, constructor: 'x' }, 'flux-t2i'),
      (error: unknown) => {
        assert.ok(error instanceof PipelineSpecError);
        assert.deepEqual(error.issues, [
          { path: 'params.guidance', message: 'unknown parameter "guidance" for deployment "flux-t2i" (it binds: prompt, seed, steps, width)' },
          { path: 'params.constructor', message: 'unknown parameter "constructor" for deployment "flux-t2i" (it binds: prompt, seed, steps, width)' },
        ]);
        return true;
      },
    );
  });
});

describe('resolveStepParams', () => {
  const spec = parsePipelineSpec(
    {
      pipelineId: 'p',
      steps: [
        { id: 'gen', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'x' } },
        { id: 'up', kind: 'upscale', deployment: 'upscale', params: { upscaleBy: 2 }, inputs: { imageUrl: { fromStep: 'gen' } } },
      ],
    },
  );
  const up = spec.steps[1];
  const upscale: DeploymentEntry = {
    deploymentId: 'dep-up',
    kind: 'upscale',
    bindings: { imageUrl: { nodeId: '10', inputKey: 'image' }, upscaleBy: { nodeId: '3', inputKey: 'upscale_by' } },
    budgets: { queueTimeoutMs: 50, runTimeoutMs: 70 },
  };

  it('merges resolved input URLs into the params the overrides are built from', () => {
    assert.ok(up);
    assert.deepEqual(buildOverrides(upscale, resolveStepParams(up, { imageUrl: 'https://r2.example/p/gen/0.png' })), {
      '10': { inputs: { image: 'https://r2.example/p/gen/0.png' } },
      '3': { inputs: { upscale_by: 2 } },
    });
  });

  it('refuses to submit with an unresolved input', () => {
    assert.ok(up);
    assert.throws(() => resolveStepParams(up, {}), /steps\.up\.inputs\.imageUrl: no output URL resolved from step "gen"/);
  });
});

describe('pickStepOutput', () => {
  const outputs = [
    { url: 'a.webp', media: 'image' },
    { url: 'b.mp4', media: 'video' },
    { url: 'c.png', media: 'image' },
  ];
  it('finds the first file of the selected media', () => {
    const media = (output: { media: string }) => output.media;
    assert.equal(pickStepOutput(outputs, 'image', media)?.url, 'a.webp');
    assert.equal(pickStepOutput(outputs, 'video', media)?.url, 'b.mp4');
    assert.equal(pickStepOutput(outputs.slice(1), 'first', media)?.url, 'b.mp4');
    assert.equal(pickStepOutput([outputs[0]!], 'video', media), undefined);
  });
});
