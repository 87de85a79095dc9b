import assert from 'node:assert/strict';
import { before, describe, it, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  PipelineSpecError,
  dataUriMaxChars,
  defaultPipelineSpec,
  parsePipelineSpec,
  seedFromPipelineId,
  validatePipelineSpec,
} from '../../src/pipeline/index.js';
import type { DeploymentRegistry, PipelineSpecIssue } from '../../src/pipeline/index.js';
import { loadRegistryFile } from '../../src/pipeline/registry-file.js';

const registryPath = fileURLToPath(new URL('../../config/deployments.json', import.meta.url));

/** A valid two-step spec, as a plain JSON-like value each test can break in one place. */
function twoStepSpec(): { pipelineId: string; steps: Record<string, unknown>[]; [key: string]: unknown } {
  return {
    pipelineId: 'user-42:run.7',
    steps: [
      { id: 't2i', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a lighthouse at dusk', seed: 7 } },
      {
        id: 'upscale',
        kind: 'upscale',
        deployment: 'ultimate-upscale',
        params: { upscaleBy: 2 },
        inputs: { imageUrl: { fromStep: 't2i' } },
      },
    ],
  };
}

function issuesOf(input: unknown, registry?: DeploymentRegistry): readonly PipelineSpecIssue[] {
  const result = validatePipelineSpec(input, registry);
  assert.equal(result.ok, false, 'expected the spec to be rejected');
  return result.ok ? [] : result.issues;
}

describe('pipeline spec validation', () => {
  let registry: DeploymentRegistry;
  before(async () => {
    registry = await loadRegistryFile(registryPath);
  });

  it('accepts a valid spec, with and without the registry', () => {
    const spec = twoStepSpec();
    assert.equal(validatePipelineSpec(spec).ok, true);
    const result = validatePipelineSpec(spec, registry);
    assert.ok(result.ok);
    assert.deepEqual(result.spec, spec);
  });

  it('names an input that references an unknown step', () => {
    const spec = twoStepSpec();
    spec.steps[1] = { ...spec.steps[1], inputs: { imageUrl: { fromStep: 'upscal' } } };
    assert.deepEqual(issuesOf(spec), [{ path: 'steps[1].inputs.imageUrl.fromStep', message: 'unknown step "upscal" (steps: "t2i", "upscale")' }]);
  });

  it('reports a cycle with its path', () => {
    const spec = {
      pipelineId: 'p1',
      steps: [
        { id: 'a', kind: 'upscale', deployment: 'u', params: {}, inputs: { imageUrl: { fromStep: 'c' } } },
        { id: 'b', kind: 'upscale', deployment: 'u', params: {}, inputs: { imageUrl: { fromStep: 'a' } } },
        { id: 'c', kind: 'upscale', deployment: 'u', params: {}, inputs: { imageUrl: { fromStep: 'b' } } },
        { id: 'self', kind: 'generic', deployment: 'g', params: {}, inputs: { media: { fromStep: 'self', output: 'first' } } },
      ],
    };
    assert.deepEqual(issuesOf(spec), [
      // DFS from a reaches c, then b, whose input from a closes the loop.
      { path: 'steps[1].inputs.imageUrl.fromStep', message: 'dependency cycle: a → b → c → a' },
      { path: 'steps[3].inputs.media.fromStep', message: 'dependency cycle: self → self' },
    ]);
  });

  it('rejects duplicate step ids', () => {
    const spec = twoStepSpec();
    spec.steps[1] = { ...spec.steps[1], id: 't2i', inputs: undefined, params: { imageUrl: 'https://example.com/a.png' } };
    assert.deepEqual(issuesOf(spec), [{ path: 'steps[1].id', message: 'duplicate step id "t2i" (already used by steps[0])' }]);
  });

  it('rejects pipeline ids that are unsafe as workflow ids and storage keys', () => {
    const cases: [string, string][] = [
      ['a/b', "pipeline id may only contain A-Z a-z 0-9 . _ : - (no '/', no whitespace)"],
      ['a b', "pipeline id may only contain A-Z a-z 0-9 . _ : - (no '/', no whitespace)"],
      ['x..y', "pipeline id must not contain '..' or be '.' (it becomes part of storage keys)"],
      ['', 'pipeline id must not be empty'],
      ['p'.repeat(201), 'pipeline id must be at most 200 characters'],
    ];
    for (const [pipelineId, message] of cases) {
      assert.deepEqual(issuesOf({ ...twoStepSpec(), pipelineId }), [{ path: 'pipelineId', message }], pipelineId);
    }
    assert.equal(validatePipelineSpec({ ...twoStepSpec(), pipelineId: 'p'.repeat(200) }).ok, true);
  });

  it('rejects an oversize data URI with advice to upload, and accepts a small one', () => {
    const small = `data:image/png;base64,${'A'.repeat(1000)}`;
    const spec = twoStepSpec();
    spec.steps[1] = { id: 'upscale', kind: 'upscale', deployment: 'ultimate-upscale', params: { imageUrl: small } };
    assert.equal(validatePipelineSpec(spec, registry).ok, true);

    const big = `data:image/png;base64,${'A'.repeat(dataUriMaxChars)}`;
    spec.steps[1] = { ...spec.steps[1], params: { imageUrl: big } };
    const [issue, ...rest] = issuesOf(spec);
    assert.equal(rest.length, 0);
    assert.equal(issue?.path, 'steps[1].params.imageUrl');
    assert.match(issue?.message ?? '', /^data URI is 65558 characters, over the 65536-character \(64 KiB\) limit: upload the file and pass its https URL instead/);
  });

  it('rejects malformed image references', () => {
    const spec = twoStepSpec();
    for (const imageUrl of ['ftp://example.com/a.png', 'https://user:pw@example.com/a.png', 'data:text/plain;base64,QQ==', 'not a url']) {
      spec.steps[1] = { id: 'upscale', kind: 'upscale', deployment: 'ultimate-upscale', params: { imageUrl } };
      const issues = issuesOf(spec);
      assert.equal(issues.length, 1, imageUrl);
      assert.equal(issues[0]?.path, 'steps[1].params.imageUrl');
    }
  });

  it('checks the step kind against the deployment', () => {
    const spec = twoStepSpec();
    spec.steps[0] = { ...spec.steps[0], deployment: 'wan-i2v' };
    // wan-i2v happens to bind prompt and seed, so the kind is the only complaint.
    assert.deepEqual(issuesOf(spec, registry), [
      { path: 'steps[0].kind', message: 'step kind "t2i" does not match deployment "wan-i2v", which is "i2v"' },
    ]);
  });

  it('rejects parameters the deployment does not bind, in params and inputs', () => {
    const spec = twoStepSpec();
    spec.steps[0] = { ...spec.steps[0], params: { prompt: 'x', negativePrompt: 'blurry' } };
    spec.steps[1] = { ...spec.steps[1], inputs: { imageUrl: { fromStep: 't2i' }, maskUrl: { fromStep: 't2i' } } };
    assert.deepEqual(issuesOf(spec, registry), [
      {
        path: 'steps[0].params.negativePrompt',
        message: 'unknown parameter "negativePrompt" for deployment "flux-t2i" (it binds: prompt, seed, steps, guidance, width, height)',
      },
      {
        path: 'steps[1].inputs.maskUrl',
        message: 'unknown parameter "maskUrl" for deployment "ultimate-upscale" (it binds: imageUrl, prompt, negativePrompt, seed, upscaleBy, denoise)',
      },
    ]);
    const unknownDeployment = twoStepSpec();
    unknownDeployment.steps[0] = { ...unknownDeployment.steps[0], deployment: 'flux-t2' };
    assert.deepEqual(issuesOf(unknownDeployment, registry), [
      { path: 'steps[0].deployment', message: 'unknown deployment "flux-t2" (registry has: "flux-t2i", "reactor-faceswap", "ultimate-upscale", "wan-i2v")' },
    ]);
  });

  it('requires the parameters of each kind, from params or inputs', () => {
    const spec = {
      pipelineId: 'p',
      steps: [
        { id: 'gen', kind: 't2i', deployment: 'flux-t2i', params: { seed: 1 } },
        { id: 'swap', kind: 'faceswap', deployment: 'reactor-faceswap', params: { faceImageUrl: 'https://example.com/face.jpg' } },
        { id: 'vid', kind: 'i2v', deployment: 'wan-i2v', params: {} },
      ],
    };
    assert.deepEqual(issuesOf(spec), [
      { path: 'steps[0].params', message: 'kind "t2i" requires parameter "prompt" (set it in params or wire it through inputs)' },
      { path: 'steps[1].params', message: 'kind "faceswap" requires parameter "targetImageUrl" (set it in params or wire it through inputs)' },
      { path: 'steps[2].params', message: 'kind "i2v" requires parameter "imageUrl" (set it in params or wire it through inputs)' },
    ]);
  });

  it('checks value types, bounds and wiring rules of the vocabulary', () => {
    const spec = {
      pipelineId: 'p',
      steps: [
        { id: 'gen', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'x', seed: -1, width: 1.5 } },
        { id: 'vid', kind: 'i2v', deployment: 'wan-i2v', params: { prompt: 'y' }, inputs: { imageUrl: { fromStep: 'gen', output: 'video' } } },
        { id: 'up', kind: 'upscale', deployment: 'ultimate-upscale', params: { imageUrl: 'https://e.com/a.png' }, inputs: { prompt: { fromStep: 'gen' } } },
        { id: 'up2', kind: 'upscale', deployment: 'ultimate-upscale', params: {}, inputs: { imageUrl: { fromStep: 'vid' } } },
      ],
    };
    assert.deepEqual(issuesOf(spec), [
      { path: 'steps[0].params.seed', message: 'must be at least 0, received -1' },
      { path: 'steps[0].params.width', message: 'expected an integer, received 1.5' },
      { path: 'steps[1].inputs.imageUrl.output', message: 'parameter "imageUrl" takes an image, not a video' },
      { path: 'steps[1].inputs.imageUrl.output', message: 'step "gen" (t2i) produces image, so output "video" would find nothing; use output "image" or "first"' },
      { path: 'steps[2].inputs.prompt', message: 'parameter "prompt" takes text; only media URL parameters can be wired from a step\'s output' },
      { path: 'steps[3].inputs.imageUrl.fromStep', message: 'step "vid" (i2v) produces video, so output "image" would find nothing; use output "video" or "first"' },
    ]);
  });

  it('rejects unknown fields and a parameter set twice', () => {
    const spec = twoStepSpec();
    spec.steps[1] = { ...spec.steps[1], input: {} };
    assert.deepEqual(issuesOf(spec), [{ path: 'steps[1]', message: 'unknown field "input"' }]);
    const twice = twoStepSpec();
    twice.steps[1] = { ...twice.steps[1], params: { imageUrl: 'https://e.com/a.png' } };
    assert.deepEqual(issuesOf(twice), [{ path: 'steps[1].inputs.imageUrl', message: 'parameter "imageUrl" is set in both params and inputs; set it in one place' }]);
  });

  it('validates labels and options', () => {
    const spec = { ...twoStepSpec(), labels: { 'bad key': 'v' }, options: { outputUrlMode: 'inline', maxJobAttempts: 0 } };
    assert.deepEqual(issuesOf(spec), [
      { path: 'labels["bad key"]', message: 'invalid key "bad key": label key must be 1–64 characters of A-Z a-z 0-9 . _ -' },
      { path: 'options.outputUrlMode', message: 'outputUrlMode must be one of presigned, source' },
      { path: 'options.maxJobAttempts', message: 'maxJobAttempts must be at least 1' },
    ]);
    const ok = { ...twoStepSpec(), labels: { user: 'u-1' }, options: { outputUrlMode: 'source', maxJobAttempts: 3 } };
    assert.ok(validatePipelineSpec(ok).ok);
  });

  it('throws PipelineSpecError with a stable name, code and the issues', () => {
    const spec = twoStepSpec();
    spec.steps[1] = { ...spec.steps[1], inputs: { imageUrl: { fromStep: 'upscal' } } };
    assert.throws(
      () => parsePipelineSpec(spec, registry),
      (error: unknown) => {
        assert.ok(error instanceof PipelineSpecError);
        assert.equal(error.name, 'PipelineSpecError');
        assert.equal(error.code, 'PIPELINE_SPEC_INVALID');
        assert.equal(error.issues.length, 1);
        assert.equal(error.message, 'invalid pipeline spec: steps[1].inputs.imageUrl.fromStep: unknown step "upscal" (steps: "t2i", "upscale")');
        return true;
      },
    );
  });
});

describe('defaultPipelineSpec', () => {
  let registry: DeploymentRegistry;
  before(async () => {
    registry = await loadRegistryFile(registryPath);
  });

  it('builds t2i → faceswap → upscale → i2v that validates against the shipped registry', () => {
    const spec = parsePipelineSpec(
      defaultPipelineSpec({ pipelineId: 'order-1', prompt: 'portrait in the rain', faceImageUrl: 'https://example.com/face.jpg', frameCount: 49 }),
      registry,
    );
    assert.deepEqual(
      spec.steps.map((step) => [step.id, step.kind, step.deployment, step.inputs === undefined ? null : Object.values(step.inputs)[0]?.fromStep]),
      [
        ['t2i', 't2i', 'flux-t2i', null],
        ['faceswap', 'faceswap', 'reactor-faceswap', 't2i'],
        ['upscale', 'upscale', 'ultimate-upscale', 'faceswap'],
        ['i2v', 'i2v', 'wan-i2v', 'upscale'],
      ],
    );
    assert.equal(spec.steps[0]?.params.seed, seedFromPipelineId('order-1'));
    assert.equal(spec.steps[3]?.params.frameCount, 49);
  });

  it('derives a stable seed per pipeline id unless one is given', () => {
    assert.equal(seedFromPipelineId('a'), seedFromPipelineId('a'));
    assert.notEqual(seedFromPipelineId('a'), seedFromPipelineId('b'));
    const spec = defaultPipelineSpec({ pipelineId: 'p', prompt: 'x', faceImageUrl: 'https://e.com/f.png', seed: 5 });
    assert.deepEqual(spec.steps.map((step) => step.params.seed), [5, undefined, 5, 5]);
  });

  it('takes deployment keys from the registry defaults, then explicit overrides', () => {
    const custom: DeploymentRegistry = {
      ...registry,
      deployments: { ...registry.deployments, 'flux-t2i-b': { ...registry.deployments['flux-t2i']! } },
      defaults: { deploymentByKind: { t2i: 'flux-t2i-b' } },
    };
    const fromRegistry = defaultPipelineSpec({ pipelineId: 'p', prompt: 'x', faceImageUrl: 'https://e.com/f.png' }, custom);
    assert.equal(fromRegistry.steps[0]?.deployment, 'flux-t2i-b');
    const explicit = defaultPipelineSpec({ pipelineId: 'p', prompt: 'x', faceImageUrl: 'https://e.com/f.png', deploymentKeys: { t2i: 'other' } }, custom);
    assert.equal(explicit.steps[0]?.deployment, 'other');
  });
});

test('media inputs: r2:// references to uploaded inputs are accepted, other keys and signed URLs are not', async () => {
  const { checkImageReference, inputReferenceKey, signedUrlIssues } = await import('../../src/pipeline/param-values.js');
  assert.equal(checkImageReference('r2://inputs/abc123/face.png'), undefined);
  assert.equal(inputReferenceKey('r2://inputs/abc123/face.png'), 'inputs/abc123/face.png');
  for (const bad of ['r2://pipelines/other/t2i/out.png', 'r2://inputs/../pipelines/x.png', 'r2://inputs/', 'r2://inputs/a b.png']) {
    assert.match(checkImageReference(bad) ?? '', /r2:\/\/inputs\//, bad);
  }
  const issues = signedUrlIssues([
    { id: 'swap', params: { faceImageUrl: 'https://bucket.example.com/face.png?X-Amz-Signature=abc&X-Amz-Credential=k', prompt: 'token=fine in text' } },
    { id: 'up', params: { imageUrl: 'https://cdn.example.com/a.png?sig=1' } },
    { id: 'ok', params: { imageUrl: 'https://cdn.example.com/a.png?width=512' } },
  ]);
  assert.deepEqual(issues.map((issue) => issue.path), ['steps.swap.params.faceImageUrl', 'steps.up.params.imageUrl']);
  assert.match(issues[0]!.message, /r2:\/\/ reference/);
});
