import { registryDefaultKey } from './registry.js';
import type { DeploymentRegistry } from './registry.js';
import type { PipelineOptions, PipelineSpec, PipelineStep } from './spec.js';
import type { ParamValue } from './step-kinds.js';

/** Kinds of the default chain, in order. */
export const defaultChainKinds = ['t2i', 'faceswap', 'upscale', 'i2v'] as const;
/** One kind of the default chain. */
export type DefaultChainKind = (typeof defaultChainKinds)[number];

/** Deployment keys of the default chain in the shipped registry (`config/deployments.json`). */
export const defaultDeploymentKeys: Readonly<Record<DefaultChainKind, string>> = {
  t2i: 'flux-t2i',
  faceswap: 'reactor-faceswap',
  upscale: 'ultimate-upscale',
  i2v: 'wan-i2v',
};

/** Step ids of the default chain (they appear in storage keys and the UI). */
export const defaultStepIds: Readonly<Record<DefaultChainKind, string>> = {
  t2i: 't2i',
  faceswap: 'faceswap',
  upscale: 'upscale',
  i2v: 'i2v',
};

/** What a caller supplies for the default t2i → faceswap → upscale → i2v pipeline. */
export interface DefaultPipelineArgs {
  readonly pipelineId: string;
  /** Text-to-image prompt; also guides the upscale detail pass. */
  readonly prompt: string;
  /** URL (or ≤ 64 KiB data URI) of the face to swap into the generated image. */
  readonly faceImageUrl: string;
  /** Seed of every sampling step; default derived from `pipelineId` (see {@link seedFromPipelineId}). */
  readonly seed?: number;
  /** Generated image size in pixels. */
  readonly width?: number;
  readonly height?: number;
  /** Upscale factor. */
  readonly upscaleBy?: number;
  /** Prompt of the video step; default `prompt`. */
  readonly videoPrompt?: string;
  /** Video length in frames and playback rate. */
  readonly frameCount?: number;
  readonly fps?: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly options?: PipelineOptions;
  /** Deployment per kind; default: the registry's `defaults.deploymentByKind`, then {@link defaultDeploymentKeys}. */
  readonly deploymentKeys?: Partial<Record<DefaultChainKind, string>>;
}

/**
 * A seed derived from the pipeline id (32-bit FNV-1a): different pipelines get different images, and
 * re-running the same pipeline id reproduces them, without any randomness in workflow code.
 */
export function seedFromPipelineId(pipelineId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < pipelineId.length; i += 1) {
    hash ^= pipelineId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function withDefined(values: Record<string, ParamValue | undefined>): Record<string, ParamValue> {
  return Object.fromEntries(Object.entries(values).filter((entry): entry is [string, ParamValue] => entry[1] !== undefined));
}

/**
 * Builds the default pipeline: t2i (prompt) → faceswap (face onto the t2i image) → upscale → i2v.
 * The result is not validated here: pass it through `parsePipelineSpec(spec, registry)`.
 */
export function defaultPipelineSpec(args: DefaultPipelineArgs, registry?: DeploymentRegistry): PipelineSpec {
  const keyFor = (kind: DefaultChainKind): string =>
    args.deploymentKeys?.[kind] ?? (registry === undefined ? undefined : registryDefaultKey(registry, kind)) ?? defaultDeploymentKeys[kind];
  const seed = args.seed ?? seedFromPipelineId(args.pipelineId);
  const ids = defaultStepIds;

  const steps: PipelineStep[] = [
    {
      id: ids.t2i,
      kind: 't2i',
      deployment: keyFor('t2i'),
      params: withDefined({ prompt: args.prompt, seed, width: args.width, height: args.height }),
    },
    {
      id: ids.faceswap,
      kind: 'faceswap',
      deployment: keyFor('faceswap'),
      params: { faceImageUrl: args.faceImageUrl },
      inputs: { targetImageUrl: { fromStep: ids.t2i, output: 'image' } },
    },
    {
      id: ids.upscale,
      kind: 'upscale',
      deployment: keyFor('upscale'),
      params: withDefined({ prompt: args.prompt, seed, upscaleBy: args.upscaleBy }),
      inputs: { imageUrl: { fromStep: ids.faceswap, output: 'image' } },
    },
    {
      id: ids.i2v,
      kind: 'i2v',
      deployment: keyFor('i2v'),
      params: withDefined({ prompt: args.videoPrompt ?? args.prompt, seed, frameCount: args.frameCount, fps: args.fps }),
      inputs: { imageUrl: { fromStep: ids.upscale, output: 'image' } },
    },
  ];

  return {
    pipelineId: args.pipelineId,
    steps,
    ...(args.labels === undefined ? {} : { labels: { ...args.labels } }),
    ...(args.options === undefined ? {} : { options: { ...args.options } }),
  };
}
