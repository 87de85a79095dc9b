/**
 * Output keys from a pipeline's key template (e.g. the backend's
 * `users/{userId}/characters/{characterId}/{label:category}/{jobId}_{index}_{rand8}.{ext}`).
 * Deterministic: the same output of the same job attempt always gets the same key, so a retried
 * copy overwrites nothing and duplicates nothing; `{rand8}` is a hash, not a random draw.
 */
import { createHash } from 'node:crypto';
import { keyTemplateProblems, type Correlation } from '../pipeline/integration.js';
import { InvalidObjectKeyError } from './errors.js';
import { assertObjectKeyLength } from './output-key.js';

/** What a key is made of. */
export interface KeyTemplateValues {
  template: string;
  pipelineId: string;
  stepId: string;
  /** Job attempt (1, 2, …). */
  attempt: number;
  /** Position of the file among the step's outputs (0, 1, …), written with two digits at least. */
  index: number;
  nodeId: string;
  filename: string;
  correlation?: Correlation;
  labels?: Record<string, string>;
  /** The worker's allowed prefixes: the template is refused outside them. */
  allowedPrefixes?: readonly string[];
}

/** Lower-case extension of an untrusted file name, letters and digits only, or `bin`. */
export function safeExtension(filename: string): string {
  const match = /\.([A-Za-z0-9]{1,10})$/.exec(filename);
  return match ? match[1]!.toLowerCase() : 'bin';
}

/** Eight hex digits that identify one output of one job attempt. */
export function outputHash8(values: Pick<KeyTemplateValues, 'pipelineId' | 'stepId' | 'attempt' | 'nodeId' | 'filename' | 'index'>): string {
  return createHash('sha256').update(JSON.stringify([values.pipelineId, values.stepId, values.attempt, values.index, values.nodeId, values.filename])).digest('hex').slice(0, 8);
}

/** The key of one output; throws {@link InvalidObjectKeyError} for a template that is not valid here. */
export function expandKeyTemplate(values: KeyTemplateValues): string {
  const problems = keyTemplateProblems(values.template, values, values.allowedPrefixes);
  if (problems.length > 0) throw new InvalidObjectKeyError({ message: `outputKeyTemplate ${problems.join('; ')}` });
  const replacements: Record<string, string> = {
    userId: values.correlation?.userId?.toLowerCase() ?? '',
    characterId: values.correlation?.characterId?.toLowerCase() ?? '',
    jobId: values.pipelineId,
    pipelineId: values.pipelineId,
    stepId: values.stepId,
    index: String(values.index).padStart(2, '0'),
    attempt: String(values.attempt),
    ext: safeExtension(values.filename),
    rand8: outputHash8(values),
  };
  const key = values.template.replace(/\{([^{}]*)\}/g, (_, name: string) => (name.startsWith('label:') ? values.labels?.[name.slice(6)] : replacements[name]) ?? '');
  assertObjectKeyLength(key);
  return key;
}
