import { z } from 'zod';

/**
 * Identifier rules shared by the spec and the registry. Pipeline and step ids end up in Temporal
 * workflow ids and R2 object keys, so they exclude '/', whitespace and dot-segments.
 */

// '*' rather than '+': emptiness has its own, clearer message.
const idCharset = /^[A-Za-z0-9._:-]*$/;

/** Longest accepted pipeline id (it prefixes workflow ids and R2 keys). */
export const pipelineIdMaxChars = 200;
/** Longest accepted step id or deployment key. */
export const stepIdMaxChars = 64;

function keySafeId(what: string, maxChars: number) {
  return z
    .string({ error: `${what} must be a string` })
    .min(1, { error: `${what} must not be empty` })
    .max(maxChars, { error: `${what} must be at most ${maxChars} characters` })
    .regex(idCharset, { error: `${what} may only contain A-Z a-z 0-9 . _ : - (no '/', no whitespace)` })
    .refine((value) => !value.includes('..') && value !== '.', {
      error: `${what} must not contain '..' or be '.' (it becomes part of storage keys)`,
    });
}

/** A caller-supplied pipeline id: 1–200 characters of `[A-Za-z0-9._:-]`, no `..`. */
const pipelineIdSchema = keySafeId('pipeline id', pipelineIdMaxChars);

/** A step id, unique within its pipeline: 1–64 characters of `[A-Za-z0-9._:-]`, no `..`. */
const stepIdSchema = keySafeId('step id', stepIdMaxChars);

/** A deployment key in the registry (e.g. `flux-t2i`): same rules as a step id. */
const deploymentKeySchema = keySafeId('deployment key', stepIdMaxChars);

/** Parameter names are camelCase-style identifiers (`prompt`, `faceImageUrl`, `frameCount`). */
const paramNameSchema = z
  .string()
  .max(64, { error: 'parameter name must be at most 64 characters' })
  .regex(/^[A-Za-z][A-Za-z0-9_]*$/, { error: 'parameter name must start with a letter and contain only letters, digits and _' });

/**
 * The identifier schemas, for the spec and the registry to build on. Handed out by a function rather
 * than exported: a workflow worker shares this module between its workflows and freezes what it
 * exports, which zod's schemas do not survive (see `shared-zod.ts`).
 */
export function identifierSchemas() {
  return { pipelineIdSchema, stepIdSchema, deploymentKeySchema, paramNameSchema };
}
