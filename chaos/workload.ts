/**
 * The pipeline mix: the default four-step chain, a branching DAG, a chain through a step with large
 * outputs; each on one of the two task queues (ambiguous submits fail the step, or resubmit once).
 * Every prompt carries the pipeline and step id, so the emulator's ledger ties each job to its
 * pipeline without asking the service.
 */
import { sampleFacePng } from '../src/devstack/local-stack.js';
import type { Prng } from './prng.js';
import { LARGE_DEPLOYMENT, type SubmitPolicy } from './stack.js';

export type PipelineShape = 'chain' | 'branch' | 'large';

export interface PlannedPipeline {
  pipelineId: string;
  shape: PipelineShape;
  policy: SubmitPolicy;
  /** Seconds after the campaign start. */
  startAtS: number;
  /** The face is uploaded with the client at start time and passed as the r2:// reference it returns. */
  uploadedFace: boolean;
  spec: { pipelineId: string; steps: SpecStep[] };
}

interface SpecStep {
  id: string;
  kind: string;
  deployment: string;
  params: Record<string, string | number>;
  inputs?: Record<string, { fromStep: string; output?: string }>;
}

/** The text the ledger is searched for: ties a job to its pipeline (and, with prompts, its step). */
export function pipelineMarker(pipelineId: string): string {
  return `[chaos ${pipelineId}]`;
}

/** The face every face swap uses (48 px PNG). */
export const FACE_PNG = sampleFacePng(48);
const faceDataUri = `data:image/png;base64,${FACE_PNG.toString('base64')}`;
function face(): string {
  return faceDataUri;
}

function stepsFor(shape: PipelineShape, pipelineId: string, seed: number): SpecStep[] {
  const prompt = (stepId: string): string => `a lighthouse at dusk ${pipelineMarker(pipelineId)} step ${stepId}`;
  const t2i: SpecStep = { id: 't2i', kind: 't2i', deployment: 'flux-t2i', params: { prompt: prompt('t2i'), seed, width: 512, height: 512 } };
  switch (shape) {
    case 'chain':
      return [
        t2i,
        { id: 'faceswap', kind: 'faceswap', deployment: 'reactor-faceswap', params: { faceImageUrl: face() }, inputs: { targetImageUrl: { fromStep: 't2i', output: 'image' } } },
        { id: 'upscale', kind: 'upscale', deployment: 'ultimate-upscale', params: { prompt: prompt('upscale'), seed, upscaleBy: 2 }, inputs: { imageUrl: { fromStep: 'faceswap', output: 'image' } } },
        { id: 'i2v', kind: 'i2v', deployment: 'wan-i2v', params: { prompt: prompt('i2v'), seed, frameCount: 17, fps: 8 }, inputs: { imageUrl: { fromStep: 'upscale', output: 'image' } } },
      ];
    case 'branch':
      // t2i fans out to a face swap and an upscale; the video waits for the upscale.
      return [
        t2i,
        { id: 'faceswap', kind: 'faceswap', deployment: 'reactor-faceswap', params: { faceImageUrl: face() }, inputs: { targetImageUrl: { fromStep: 't2i', output: 'image' } } },
        { id: 'upscale', kind: 'upscale', deployment: 'ultimate-upscale', params: { prompt: prompt('upscale'), seed, upscaleBy: 2 }, inputs: { imageUrl: { fromStep: 't2i', output: 'image' } } },
        { id: 'i2v', kind: 'i2v', deployment: 'wan-i2v', params: { prompt: prompt('i2v'), seed, frameCount: 17, fps: 8 }, inputs: { imageUrl: { fromStep: 'upscale', output: 'image' } } },
      ];
    case 'large':
      return [
        t2i,
        { id: 'upscale-large', kind: 'upscale', deployment: LARGE_DEPLOYMENT.key, params: { prompt: prompt('upscale-large'), seed, upscaleBy: 4 }, inputs: { imageUrl: { fromStep: 't2i', output: 'image' } } },
      ];
  }
}

export interface WorkloadOptions {
  seed: number;
  minutes: number;
  pipelinesPerMinute: number;
  largeOutputs: boolean;
  /** Share of pipelines on the resubmit-policy queue (0 = none). */
  resubmitShare: number;
  uploadedInputs: number;
}

/** Every pipeline of the campaign, with its start moment, decided by the seed alone. */
export function planWorkload(prng: Prng, o: WorkloadOptions): PlannedPipeline[] {
  const count = Math.max(1, Math.round(o.minutes * o.pipelinesPerMinute));
  const windowS = o.minutes * 60;
  const planned: PlannedPipeline[] = [];
  for (let n = 0; n < count; n += 1) {
    const roll = prng.float();
    const shape: PipelineShape = o.largeOutputs && roll < 0.12 ? 'large' : roll < 0.45 ? 'branch' : 'chain';
    const policy: SubmitPolicy = prng.chance(o.resubmitShare) ? 'resubmit' : 'fail';
    // Spread evenly with jitter, so the load is steady rather than bursty.
    const startAtS = Math.min(windowS * 0.95, ((n + prng.float()) / count) * windowS * 0.95);
    const pipelineId = `chaos-${o.seed}-${String(n).padStart(4, '0')}-${shape}`;
    const uploadedFace = shape !== 'large' && prng.float() < o.uploadedInputs;
    planned.push({ pipelineId, shape, policy, startAtS, uploadedFace, spec: { pipelineId, steps: stepsFor(shape, pipelineId, prng.int(1, 2 ** 31 - 1)) } });
  }
  return planned.sort((a, b) => a.startAtS - b.startAtS);
}
