import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineSpecError, buildOverrides, parsePipelineSpec, pickStepOutput, planStepJob } from '../../src/pipeline/index.js';
import type { DeploymentEntry, DeploymentRegistry } from '../../src/pipeline/index.js';

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

describe('planStepJob', () => {
  const registry: DeploymentRegistry = {
    defaults: { maxJobAttempts: 3 },
    deployments: {
      'flux-t2i': entry,
      upscale: {
        deploymentId: 'dep-up',
        kind: 'upscale',
        bindings: { imageUrl: { nodeId: '10', inputKey: 'image' }, upscaleBy: { nodeId: '3', inputKey: 'upscale_by' } },
        budgets: { queueTimeoutMs: 50, runTimeoutMs: 70 },
        maxJobAttempts: 1,
      },
    },
  };
  const spec = parsePipelineSpec(
    {
      pipelineId: 'p',
      steps: [
        { id: 'gen', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'x' } },
        { id: 'up', kind: 'upscale', deployment: 'upscale', params: { upscaleBy: 2 }, inputs: { imageUrl: { fromStep: 'gen' } } },
      ],
    },
    registry,
  );
  const [gen, up] = spec.steps;

  it('merges resolved input URLs into the overrides and picks budgets', () => {
    assert.ok(gen && up);
    const job = planStepJob(registry, spec, up, { imageUrl: 'https://r2.example/p/gen/0.png' });
    assert.deepEqual(job, {
      deploymentKey: 'upscale',
      deploymentId: 'dep-up',
      overrides: { '10': { inputs: { image: 'https://r2.example/p/gen/0.png' } }, '3': { inputs: { upscale_by: 2 } } },
      queueTimeoutMs: 50,
      runTimeoutMs: 70,
      maxJobAttempts: 1,
    });
    assert.equal(planStepJob(registry, spec, gen).maxJobAttempts, 3, 'registry default');
    assert.equal(planStepJob(registry, { options: { maxJobAttempts: 5 } }, up, { imageUrl: 'https://e.com/a.png' }).maxJobAttempts, 5, 'pipeline override');
  });

  it('refuses to submit with an unresolved input', () => {
    assert.ok(up);
    assert.throws(() => planStepJob(registry, spec, up, {}), /steps\.up\.inputs\.imageUrl: no output URL resolved from step "gen"/);
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
