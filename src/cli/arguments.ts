/** The command line: help text, options per command, and the checks of option values. */
import { parseArgs } from 'node:util';
import { PIPELINE_LIST_STATUSES } from '../client/index.js';

export const HELP = `rcp — operate generation pipelines (RunComfy jobs orchestrated by Temporal, outputs in R2)

Usage: rcp <command> [options]        (from a checkout: npm run cli -- <command> [options])

Commands:
  start --spec <file.json|->                 start a pipeline from a spec (- reads stdin)
  start --id <id> --prompt <text> --face-image <url|path> [--seed <n>]
                                             start the default chain t2i → faceswap → upscale → i2v;
                                             a local face image is uploaded to R2 first
  status <id>                                the pipeline's status, step by step
  watch <id> [--interval-ms <n>]             live progress until the pipeline ends
  cancel <id> --reason <text> [--requested-by <who>]
                                             cancel: RunComfy jobs are cancelled, stored outputs kept
  result <id>                                wait for the end; outputs with R2 keys, sizes, sha256, links
  list [--status <s>] [--since <time>] [--limit <n>] [--user <uuid>] [--character <uuid>]
                                             pipelines, newest first; status: ${PIPELINE_LIST_STATUSES.join(', ')};
                                             time: ISO 8601 or relative (30m, 12h, 7d)
  deployments list                           RunComfy deployments and the registry keys using them
  deployments inspect <registry key|deployment id>
                                             each node's overridable literal inputs, and a check of
                                             the registry entry's bindings against the graph

Options:
  --json        print one JSON document on stdout (errors too: {"error": {...}})
  -h, --help    this help

Exit codes:
  0   ok (status/list/cancel: the command worked, whatever the pipeline's state)
  1   the pipeline failed (result, watch), or binding problems (deployments inspect)
  2   usage or configuration error, invalid spec
  3   pipeline or deployment not found
  4   the pipeline was cancelled (result, watch)
  5   the pipeline id was already started with a different spec
  10  unexpected error (e.g. Temporal unreachable)
  130 interrupted (Ctrl-C during watch or result; the pipeline keeps running)

Environment:
  TEMPORAL_ADDRESS (127.0.0.1:7233), TEMPORAL_NAMESPACE (default), TEMPORAL_TASK_QUEUE
  (generation-pipelines), TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_UI_URL (for links);
  R2_ENDPOINT, R2_BUCKET, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY, R2_REGION, R2_FORCE_PATH_STYLE
  (uploads and download links; optional), PRESIGN_TTL_SECONDS (86400);
  RUNCOMFY_BASE_URL, RUNCOMFY_TOKEN (deployments commands);
  DEPLOYMENT_REGISTRY_PATH (config/deployments.json);
  PAYLOAD_KEYS or PAYLOAD_KEY_FILE (the workers' payload keys, when they encrypt).
`;

/** A mistake in the command line: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}

export const COMMON_OPTIONS = ['json', 'help'];
export const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  start: ['spec', 'id', 'prompt', 'face-image', 'seed'],
  status: [],
  watch: ['interval-ms'],
  cancel: ['reason', 'requested-by'],
  result: [],
  list: ['status', 'since', 'limit', 'user', 'character'],
  'deployments list': [],
  'deployments inspect': [],
};

export type Values = Record<string, string | boolean | undefined>;

export function requireString(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${name} is required`);
  return value;
}

export function optionalInteger(values: Values, name: string, min: number): number | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  const number = Number(value);
  if (typeof value !== 'string' || !/^-?\d+$/.test(value) || !Number.isSafeInteger(number) || number < min) throw new UsageError(`--${name} must be a whole number ≥ ${min}`);
  return number;
}

export function onePositional(positionals: readonly string[], what: string): string {
  if (positionals.length !== 1 || !positionals[0]) throw new UsageError(`expected exactly one ${what}`);
  return positionals[0];
}

/** ISO 8601, or a span back from now: 90s, 30m, 12h, 7d. */
export function parseSince(text: string, now: number = Date.now()): Date {
  const relative = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  if (relative) {
    const unitMs = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(relative[1]) * unitMs);
  }
  const date = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(date.getTime())) throw new UsageError(`--since: expected an ISO 8601 time or a span like 30m, 12h, 7d; got "${text}"`);
  return date;
}

/** Every option of every command; which command takes which is checked against COMMAND_OPTIONS. */
export function parseCommandLine(argv: readonly string[]): { values: Values & { json?: boolean; help?: boolean }; positionals: string[] } {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      spec: { type: 'string' },
      id: { type: 'string' },
      prompt: { type: 'string' },
      'face-image': { type: 'string' },
      seed: { type: 'string' },
      reason: { type: 'string' },
      'requested-by': { type: 'string' },
      status: { type: 'string' },
      since: { type: 'string' },
      user: { type: 'string' },
      character: { type: 'string' },
      limit: { type: 'string' },
      'interval-ms': { type: 'string' },
    },
  });
}
