/**
 * Normalised job states. RunComfy's queue reports `in_queue` → `in_progress` → `completed`
 * (or `cancelled`/`canceled`); `/result` and webhooks report `succeeded` / `failed` / `cancelled`.
 * Both vocabularies map onto this one set.
 */
export const RUN_STATUS = {
  queued: 'queued',
  running: 'running',
  completed: 'completed',
  cancelled: 'cancelled',
  succeeded: 'succeeded',
  failed: 'failed',
} as const;

/** One of the values of {@link RUN_STATUS}. */
export type RunStatus = (typeof RUN_STATUS)[keyof typeof RUN_STATUS];

/** A raw status string mapped onto {@link RunStatus}, with whether it can still change. */
export interface NormalizedStatus {
  /** The normalised state. */
  readonly status: RunStatus;
  /**
   * True for `completed`, `cancelled`, `succeeded` and `failed`: the job will not change any more.
   * `completed` is terminal although it does not say whether the job worked: `/result` tells.
   */
  readonly isTerminal: boolean;
}

const TERMINAL_STATUSES: ReadonlySet<RunStatus> = new Set<RunStatus>(['completed', 'cancelled', 'succeeded', 'failed']);

// Spellings seen across RunComfy's docs, CLI, MCP client and third-party clients, plus the obvious
// synonyms: a renamed status should not make a poll loop run until its timeout.
const STATUS_SPELLINGS: ReadonlyMap<string, RunStatus> = new Map<string, RunStatus>([
  ['in_queue', 'queued'],
  ['queued', 'queued'],
  ['pending', 'queued'],
  ['waiting', 'queued'],
  ['in_progress', 'running'],
  ['running', 'running'],
  ['processing', 'running'],
  ['started', 'running'],
  ['completed', 'completed'],
  ['complete', 'completed'],
  ['cancelled', 'cancelled'],
  ['canceled', 'cancelled'],
  ['succeeded', 'succeeded'],
  ['success', 'succeeded'],
  ['successful', 'succeeded'],
  ['failed', 'failed'],
  ['failure', 'failed'],
  ['error', 'failed'],
  ['errored', 'failed'],
]);

/**
 * Maps a raw RunComfy status string (case and `-`/space/`_` insensitive) to a {@link NormalizedStatus}.
 * Returns `undefined` for a status it does not know, so callers can treat that as a protocol problem
 * instead of guessing whether the job is finished.
 */
export function normalizeStatus(rawStatus: string): NormalizedStatus | undefined {
  const key = rawStatus.trim().toLowerCase().replace(/[\s-]+/g, '_');
  const status = STATUS_SPELLINGS.get(key);
  if (status === undefined) return undefined;
  return { status, isTerminal: TERMINAL_STATUSES.has(status) };
}

/** True when `status` (raw or normalised) is one a job never leaves; false for unknown strings. */
export function isTerminalStatus(status: string): boolean {
  return normalizeStatus(status)?.isTerminal ?? false;
}
