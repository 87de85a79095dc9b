import type { ParamSpec, ParamValue } from './step-kinds.js';

/**
 * Value checks for step parameters. Workflow history stores every parameter, so media travel as
 * references (URLs); only tiny inline images are accepted as `data:` URIs.
 */

/** Longest accepted `data:` URI, whole string (64 KiB ≈ 48 KiB of image bytes). */
export const dataUriMaxChars = 65_536;
/** Longest accepted http(s) URL. */
export const mediaUrlMaxChars = 4096;
/** Longest accepted string value of any parameter. */
export const textParamMaxChars = 65_536;

/**
 * An uploaded input in the bucket: `r2://inputs/<path>`. The submit activity turns it into a
 * presigned URL at the last moment, so no signature is ever stored in history. Only the inputs
 * folder may be referenced: a spec must not be able to hand out any other object of the bucket.
 */
export const OBJECT_REFERENCE_SCHEME = 'r2://';
const inputReferencePattern = /^r2:\/\/inputs(\/[A-Za-z0-9_-][A-Za-z0-9._-]{0,199})+$/;
/** Query parameters that carry a signature or a credential: such URLs must not enter history. */
const signedQueryPattern = /[?&](x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|signature|sig|token|access_token|auth|key)=/i;

/** The object key of an `r2://` input reference, or undefined when `value` is not a valid one. */
export function inputReferenceKey(value: string): string | undefined {
  if (!inputReferencePattern.test(value) || value.split('/').some((segment) => segment === '..' || segment === '.')) return undefined;
  return value.slice(OBJECT_REFERENCE_SCHEME.length);
}

const httpUrlPattern = /^https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?([/?#]\S*)?$/i;
const imageDataUriPattern = /^data:image\/[A-Za-z0-9.+-]+(;[A-Za-z0-9=._+-]+)*;base64,[A-Za-z0-9+/]*={0,2}$/;

function oversizeDataUriMessage(length: number): string {
  return (
    `data URI is ${length} characters, over the ${dataUriMaxChars}-character (64 KiB) limit: ` +
    'upload the file and pass its https URL instead (workflow history holds references, not bytes)'
  );
}

/**
 * Checks an image reference: an http(s) URL (no credentials, ≤ 4096 chars) or a base64
 * `data:image/…` URI of at most {@link dataUriMaxChars} characters. Returns the reason it is
 * rejected, or `undefined` when it is acceptable.
 */
export function checkImageReference(value: string): string | undefined {
  if (value.startsWith('data:')) {
    // Length first: never scan or decode an oversized payload.
    if (value.length > dataUriMaxChars) return oversizeDataUriMessage(value.length);
    if (!imageDataUriPattern.test(value)) return 'data URI must look like data:image/<type>;base64,<data>';
    return undefined;
  }
  if (value.length > mediaUrlMaxChars) return `URL is ${value.length} characters, over the ${mediaUrlMaxChars}-character limit`;
  if (value.startsWith(OBJECT_REFERENCE_SCHEME)) {
    return inputReferenceKey(value) === undefined ? 'an r2:// reference must name an uploaded input: r2://inputs/<path> (letters, digits, ".", "_", "-")' : undefined;
  }
  if (!httpUrlPattern.test(value)) return 'must be an https:// or http:// URL (without user:password@), an r2://inputs/… reference or a data:image/…;base64 URI';
  return undefined;
}

/**
 * Issues for every parameter holding a signed or token-bearing URL, which would be stored in
 * workflow history. Checked where a pipeline is accepted (`PipelineClient.start`, hence the CLI),
 * not by the workflow or its preparation activity: histories recorded before this rule must still
 * replay, and pipelines started by older clients must still run on upgraded workers.
 */
export function signedUrlIssues(steps: readonly { id: string; params: Readonly<Record<string, ParamValue>> }[]): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  for (const step of steps) {
    for (const [name, value] of Object.entries(step.params)) {
      if (typeof value === 'string' && /^https?:/i.test(value) && signedQueryPattern.test(value)) {
        issues.push({
          path: `steps.${step.id}.params.${name}`,
          message: 'looks like a signed or token-bearing URL, which would be stored in workflow history: upload the file (PipelineClient.uploadInput, CLI: a local path) and pass its r2:// reference',
        });
      }
    }
  }
  return issues;
}

/**
 * Checks one parameter value against its vocabulary entry (`spec`), or only against the general
 * size limits when the parameter is not part of its kind's vocabulary. Returns the reason, or
 * `undefined` when the value is acceptable.
 */
export function checkParamValue(value: ParamValue, spec: ParamSpec | undefined): string | undefined {
  if (typeof value === 'string') {
    if (value.startsWith('data:') && value.length > dataUriMaxChars) return oversizeDataUriMessage(value.length);
    if (value.length > textParamMaxChars) return `text is ${value.length} characters, over the ${textParamMaxChars}-character limit`;
  }
  if (spec === undefined) return undefined;
  switch (spec.type) {
    case 'text':
      if (typeof value !== 'string') return `expected text, received ${typeof value}`;
      if (spec.required && value.trim() === '') return 'must not be empty';
      return undefined;
    case 'image-url':
      if (typeof value !== 'string') return `expected an image URL, received ${typeof value}`;
      return checkImageReference(value);
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `expected true or false, received ${typeof value}`;
    case 'integer':
    case 'number': {
      if (typeof value !== 'number') return `expected a number, received ${typeof value}`;
      if (spec.type === 'integer' && !Number.isInteger(value)) return `expected an integer, received ${value}`;
      if (spec.min !== undefined && value < spec.min) return `must be at least ${spec.min}, received ${value}`;
      if (spec.max !== undefined && value > spec.max) return `must be at most ${spec.max}, received ${value}`;
      return undefined;
    }
  }
}
