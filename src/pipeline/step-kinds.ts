/**
 * Step kinds and the parameter vocabulary of each kind. The vocabulary is the contract between a
 * pipeline spec and the deployment registry: a deployment of kind `t2i` must bind `prompt`, a spec
 * step of kind `t2i` must supply it, and value types are checked the same way for every deployment.
 */

/** Wire values of a step's `kind`; never renamed. */
export const stepKinds = ['t2i', 'faceswap', 'upscale', 'i2v', 'generic'] as const;
/** What a step does; decides its required parameters and the media it produces. */
export type StepKind = (typeof stepKinds)[number];

/** Which persisted output file of an earlier step feeds an input: first image, first video, or first file. */
export const stepOutputSelectors = ['image', 'video', 'first'] as const;
/** See {@link stepOutputSelectors}. */
export type StepOutputSelector = (typeof stepOutputSelectors)[number];
/** Selector used when an input names no `output`. */
export const defaultStepOutputSelector: StepOutputSelector = 'image';

/** Value types a vocabulary parameter can have. `image-url`: https/http URL or small `data:image/…` URI. */
export const paramValueTypes = ['text', 'integer', 'number', 'boolean', 'image-url'] as const;
/** See {@link paramValueTypes}. */
export type ParamValueType = (typeof paramValueTypes)[number];

/** One parameter of a kind's vocabulary. */
export interface ParamSpec {
  readonly type: ParamValueType;
  readonly required: boolean;
  /** Inclusive bounds for `integer` / `number`. */
  readonly min?: number;
  readonly max?: number;
  /** One line for documentation and error messages. */
  readonly description: string;
}

/** A value a caller may pass for a parameter (and that ends up in a RunComfy override). */
export type ParamValue = string | number | boolean;

// ComfyUI seeds are unsigned 64-bit, but JSON numbers are only exact up to 2^53 - 1.
const seedMax = Number.MAX_SAFE_INTEGER;

const prompt = (required: boolean, description: string): ParamSpec => ({ type: 'text', required, description });
const negativePrompt: ParamSpec = { type: 'text', required: false, description: 'what the image should not show' };
const seed: ParamSpec = { type: 'integer', required: false, min: 0, max: seedMax, description: 'sampler seed (0 … 2^53-1)' };
const dimension = (axis: string): ParamSpec => ({ type: 'integer', required: false, min: 16, max: 8192, description: `${axis} in pixels (16 … 8192)` });

/** The parameter vocabulary of each kind. `generic` has none: its deployment's bindings define everything. */
export const kindVocabulary: Readonly<Record<StepKind, Readonly<Record<string, ParamSpec>>>> = {
  t2i: {
    prompt: prompt(true, 'what to draw'),
    negativePrompt,
    seed,
    width: dimension('image width'),
    height: dimension('image height'),
    steps: { type: 'integer', required: false, min: 1, max: 200, description: 'sampling steps (1 … 200)' },
    guidance: { type: 'number', required: false, min: 0, max: 100, description: 'guidance / CFG strength (0 … 100)' },
  },
  faceswap: {
    faceImageUrl: { type: 'image-url', required: true, description: 'image of the face to put in (the source face)' },
    targetImageUrl: { type: 'image-url', required: true, description: 'image whose face is replaced (usually wired from an earlier step)' },
  },
  upscale: {
    imageUrl: { type: 'image-url', required: true, description: 'image to upscale' },
    prompt: prompt(false, 'description guiding the detail pass'),
    negativePrompt,
    seed,
    upscaleBy: { type: 'number', required: false, min: 1, max: 8, description: 'scale factor (1 … 8)' },
    denoise: { type: 'number', required: false, min: 0, max: 1, description: 'how much the detail pass may change (0 … 1)' },
  },
  i2v: {
    imageUrl: { type: 'image-url', required: true, description: 'first / reference frame' },
    prompt: prompt(false, 'what happens in the video'),
    negativePrompt,
    seed,
    frameCount: { type: 'integer', required: false, min: 1, max: 2000, description: 'number of generated frames (1 … 2000)' },
    fps: { type: 'number', required: false, min: 1, max: 120, description: 'frames per second of the encoded video (1 … 120)' },
    width: dimension('video width'),
    height: dimension('video height'),
  },
  generic: {},
};

/** The media a step of each kind produces; `undefined` = unknown (generic), so any selector is accepted. */
export const kindOutputMedia: Readonly<Record<StepKind, 'image' | 'video' | undefined>> = {
  t2i: 'image',
  faceswap: 'image',
  upscale: 'image',
  i2v: 'video',
  generic: undefined,
};

/** The vocabulary entry of `name` for `kind`, or `undefined` when the kind does not define it. */
export function vocabularyParam(kind: StepKind, name: string): ParamSpec | undefined {
  const vocabulary = kindVocabulary[kind];
  return Object.hasOwn(vocabulary, name) ? vocabulary[name] : undefined;
}

/** Names of the parameters a step of `kind` must supply (in `params` or through `inputs`). */
export function requiredParams(kind: StepKind): string[] {
  return Object.entries(kindVocabulary[kind])
    .filter(([, spec]) => spec.required)
    .map(([name]) => name);
}

/**
 * Picks the output file an input selector means: `first` = the first file, `image` / `video` = the
 * first file of that media. `mediaOf` classifies a file (e.g. by extension or content type); pass
 * outputs already in the order that decides (see `orderStepOutputs`: the registry's preference first).
 */
export function pickStepOutput<T>(outputs: readonly T[], selector: StepOutputSelector, mediaOf: (output: T) => string): T | undefined {
  if (selector === 'first') return outputs[0];
  return outputs.find((output) => mediaOf(output) === selector);
}
