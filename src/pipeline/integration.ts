/**
 * What a backend adds to a pipeline to fit it into its own records: correlation ids (its job, user
 * and character), where outputs go in its bucket (a key template), and where progress callbacks go.
 * Pure and sandbox-safe: the client validates with it before starting, the worker again before any
 * job is submitted.
 */
import { z } from 'zod';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** True for a UUID in its canonical 8-4-4-4-12 hex form (any version). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

const uuidField = (what: string) => z.string({ error: `${what} must be a string` }).regex(UUID, { error: `${what} must be a UUID (8-4-4-4-12 hex digits)` });

/**
 * The backend's ids for a pipeline. With `correlation`, the pipeline id is the backend's own job id
 * (e.g. `generation_jobs.id`) and must be a UUID too. Unknown fields are refused.
 */
const correlationSchema = z.strictObject({
  userId: uuidField('correlation.userId').optional(),
  characterId: uuidField('correlation.characterId').optional(),
});
/** See {@link correlationSchema}. */
export type Correlation = z.infer<typeof correlationSchema>;

/** Longest accepted key template, in characters. */
export const keyTemplateMaxChars = 512;
/** Placeholders a key template may use; `{label:NAME}` takes the value of label NAME. */
export const KEY_TEMPLATE_PLACEHOLDERS = ['userId', 'characterId', 'jobId', 'pipelineId', 'stepId', 'index', 'attempt', 'ext', 'rand8'] as const;
const PLACEHOLDER = /\{([^{}]*)\}/g;
const LITERAL_CHARS = /^[A-Za-z0-9._\-/]*$/;

/** What a template needs from the spec: checked so a key never has an empty segment. */
export interface KeyTemplateContext {
  correlation?: Correlation;
  labels?: Record<string, string>;
}

/**
 * Problems of a key template, each a sentence (empty when valid): syntax (known placeholders,
 * literal characters `A-Z a-z 0-9 . _ - /`), no leading `/`, no `..` or empty segment, bounded
 * length, one key per output (`{index}` plus `{stepId}` or `{rand8}`, and `{jobId}` or
 * `{pipelineId}`), values present for `{userId}`, `{characterId}`, `{label:…}`, and — when
 * `allowedPrefixes` is given — a literal start within one of them.
 */
export function keyTemplateProblems(template: string, context: KeyTemplateContext = {}, allowedPrefixes?: readonly string[]): string[] {
  const problems: string[] = [];
  if (template.length === 0) return ['must not be empty'];
  if (template.length > keyTemplateMaxChars) problems.push(`must be at most ${keyTemplateMaxChars} characters`);
  if (template.startsWith('/')) problems.push('must not start with "/"');
  const used = new Set<string>();
  for (const match of template.matchAll(PLACEHOLDER)) {
    const name = match[1] ?? '';
    used.add(name);
    if (name.startsWith('label:')) {
      const label = name.slice('label:'.length);
      if (context.labels?.[label] === undefined) problems.push(`uses {${name}} but the pipeline has no label "${label}"`);
      else if (!/^[A-Za-z0-9._-]{1,64}$/.test(context.labels[label]!) || /^\.+$/.test(context.labels[label]!)) problems.push(`label "${label}" is used in keys, so its value must be 1–64 characters of A-Z a-z 0-9 . _ - (and not only dots)`);
      continue;
    }
    if (!(KEY_TEMPLATE_PLACEHOLDERS as readonly string[]).includes(name)) problems.push(`unknown placeholder {${name}} (known: ${KEY_TEMPLATE_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')} {label:NAME})`);
  }
  const literal = template.replace(PLACEHOLDER, '');
  if (!LITERAL_CHARS.test(literal)) problems.push('may only contain A-Z a-z 0-9 . _ - / outside placeholders');
  const segments = template.split('/');
  if (segments.some((segment) => segment === '..' || segment === '.')) problems.push('must not contain "." or ".." segments');
  if (template.includes('..')) problems.push('must not contain ".."');
  if (segments.some((segment) => segment === '')) problems.push('must not contain an empty segment ("//" or a trailing "/")');
  if (!used.has('index')) problems.push('must contain {index}, so every output of a step gets its own key');
  if (!used.has('stepId') && !used.has('rand8')) problems.push('must contain {stepId} or {rand8}, so outputs of different steps never share a key');
  if (!used.has('jobId') && !used.has('pipelineId')) problems.push('must contain {jobId} (or {pipelineId}), so pipelines never share a key');
  if (used.has('userId') && !context.correlation?.userId) problems.push('uses {userId} but correlation.userId is not set');
  if (used.has('characterId') && !context.correlation?.characterId) problems.push('uses {characterId} but correlation.characterId is not set');
  if (allowedPrefixes !== undefined) {
    // A prefix may hold placeholders itself (`users/{userId}/`): the template must open with it verbatim.
    if (!allowedPrefixes.some((prefix) => prefix !== '' && template.startsWith(prefix))) {
      problems.push(allowedPrefixes.length === 0 ? 'is refused: no output key prefixes are configured (OUTPUT_KEY_PREFIXES)' : `must start with one of the allowed prefixes: ${allowedPrefixes.join(', ')}`);
    }
  }
  return problems;
}

/** Longest accepted callback URL. */
export const callbackUrlMaxChars = 2048;

/** Where a pipeline's progress callbacks go (the host must be in the worker's allow-list). */
const callbackSpecSchema = z.strictObject({
  url: z
    .string({ error: 'callback.url must be a string' })
    .max(callbackUrlMaxChars, { error: `callback.url must be at most ${callbackUrlMaxChars} characters` })
    .refine((value) => callbackUrlProblem(value) === undefined, { error: (issue) => `callback.url ${callbackUrlProblem(String(issue.input)) ?? 'is invalid'}` }),
});
/** See {@link callbackSpecSchema}. */
export type CallbackSpec = z.infer<typeof callbackSpecSchema>;

/** Why `url` cannot be a callback URL, or undefined: http(s), no credentials, no fragment. */
export function callbackUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute http(s) URL';
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return 'must use https (or http)';
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry credentials';
  if (parsed.hash !== '') return 'must not have a fragment';
  return undefined;
}

/**
 * Whether `url`'s host is in `allowedHosts` (`host` allows any port of that host, `host:port` one
 * port; compared case-insensitively). Never resolves names: the allow-list names the backend's hosts.
 */
export function callbackHostAllowed(url: string, allowedHosts: readonly string[]): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  const host = parsed.hostname.toLowerCase();
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  return allowedHosts.some((entry) => {
    const wanted = entry.trim().toLowerCase();
    if (wanted === '') return false;
    const at = wanted.lastIndexOf(':');
    if (at > 0 && !wanted.endsWith(']') && /^\d+$/.test(wanted.slice(at + 1))) return wanted.slice(0, at) === host && wanted.slice(at + 1) === port;
    return wanted === host;
  });
}

/** Integration problems of a spec that need deployment configuration (prefixes, callback hosts). */
export function integrationIssues(
  spec: { pipelineId: string; correlation?: Correlation; labels?: Record<string, string>; outputKeyTemplate?: string; callback?: CallbackSpec },
  config: { allowedKeyPrefixes?: readonly string[]; callbackHosts?: readonly string[] },
): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  if (spec.outputKeyTemplate !== undefined && config.allowedKeyPrefixes !== undefined) {
    for (const problem of keyTemplateProblems(spec.outputKeyTemplate, spec, config.allowedKeyPrefixes)) issues.push({ path: 'outputKeyTemplate', message: `outputKeyTemplate ${problem}` });
  }
  if (spec.callback !== undefined && config.callbackHosts !== undefined && !callbackHostAllowed(spec.callback.url, config.callbackHosts)) {
    issues.push({ path: 'callback.url', message: `callback.url host is not in the allowed callback hosts (CALLBACK_ALLOWED_HOSTS)` });
  }
  return issues;
}

/** The correlation and callback schemas, for the spec to build on (a function: see {@link identifierSchemas}). */
export function integrationSchemas() {
  return { correlationSchema, callbackSpecSchema };
}
