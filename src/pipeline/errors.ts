/**
 * Errors of the pipeline domain. Sandbox-safe: workflow code imports this module.
 */

/** One problem found in a pipeline spec or a deployment registry: where it is and what is wrong. */
export interface PipelineSpecIssue {
  /** Field path such as `steps[2].inputs.imageUrl.fromStep`; empty string for the document itself. */
  readonly path: string;
  /** Why the value is rejected, in words a caller can act on. */
  readonly message: string;
}

/** Stable `code` carried by {@link PipelineSpecError}; part of the failure contract, never renamed. */
export const pipelineSpecErrorCode = 'PIPELINE_SPEC_INVALID' as const;

/** How many issues are spelled out in an error's `message`; the full list stays in `issues`. */
const issuesInMessage = 5;

/**
 * A pipeline spec (or a step's parameters at run time) is invalid. Retrying cannot help, so callers
 * map it to a non-retryable failure of type `PipelineSpecError`.
 */
export class PipelineSpecError extends Error {
  override readonly name = 'PipelineSpecError';
  readonly code = pipelineSpecErrorCode;
  readonly issues: readonly PipelineSpecIssue[];

  constructor(issues: readonly PipelineSpecIssue[], options?: { cause?: unknown }) {
    super(summarizeIssues('invalid pipeline spec', issues), options);
    this.issues = issues;
  }
}

/** Joins issues into one readable line: `title: path: message; path: message (+N more)`. */
export function summarizeIssues(title: string, issues: readonly PipelineSpecIssue[]): string {
  const shown = issues.slice(0, issuesInMessage).map(formatIssue);
  const hidden = issues.length - shown.length;
  return `${title}: ${shown.join('; ')}${hidden > 0 ? ` (+${hidden} more)` : ''}`;
}

/** `path: message`, or just the message when the issue concerns the whole document. */
export function formatIssue(issue: PipelineSpecIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

const plainKey = /^[A-Za-z_$][\w$-]*$/;

/**
 * Renders a path as callers write it: `steps[2].inputs.imageUrl`, with keys that are not plain
 * words quoted (`labels["a b"]`) so the path is never ambiguous.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && plainKey.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

/** Minimal shape of a zod issue, so this module does not depend on zod's internal types. */
interface ZodLikeIssue {
  readonly code?: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly issues?: readonly ZodLikeIssue[];
  readonly keys?: readonly string[];
}

/** Converts zod issues into path-naming issues, unwrapping record-key errors into their real reason. */
export function issuesFromZod(zodIssues: readonly ZodLikeIssue[], basePath: readonly PropertyKey[] = []): PipelineSpecIssue[] {
  return zodIssues.map((issue) => {
    const path = formatPath([...basePath, ...issue.path]);
    if (issue.code === 'invalid_key' && issue.issues && issue.issues.length > 0) {
      const key = issue.path[issue.path.length - 1];
      return { path, message: `invalid key ${JSON.stringify(String(key))}: ${issue.issues.map((inner) => inner.message).join('; ')}` };
    }
    if (issue.code === 'unrecognized_keys' && issue.keys) {
      const names = issue.keys.map((key) => JSON.stringify(key)).join(', ');
      return { path, message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${names}` };
    }
    return { path, message: issue.message };
  });
}

/** Own-property lookup: records parsed from JSON must never answer with inherited members (`constructor`). */
export function ownValue<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
