/**
 * Command-line flags of `npm run chaos`. Anything unknown or malformed is a usage error that names
 * the flag, raised before any server starts.
 */

/** Every fault the campaign can inject, each switchable with `--faults`. */
export const FAULT_KINDS = [
  'worker-kill',
  'worker-restart',
  'temporal-restart',
  's3-outage',
  'rate-limit',
  'server-error',
  'lost-response',
  'hang',
  'truncated-download',
  'expired-download',
  'transient-job-failure',
  'permanent-job-failure',
  'slow-queue',
  'cancel-signal',
  'cancel-temporal',
  'duplicate-start',
  'webhook-loss',
  'webhook-forgery',
  'receiver-down',
  'nudge-storm',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Faults on the webhook path: they mean nothing with webhooks off (a nudge storm does: a nudge prompts a read either way). */
export const WEBHOOK_FAULT_KINDS: ReadonlySet<FaultKind> = new Set(['webhook-loss', 'webhook-forgery', 'receiver-down']);

export interface ChaosOptions {
  seed: number;
  minutes: number;
  pipelinesPerMinute: number;
  faultsPerMinute: number;
  /** Worker processes on the main task queue (ambiguous submits fail the step there). */
  workers: number;
  /** Worker processes on the second task queue, whose workers resubmit after an ambiguous submit (0 = none). */
  resubmitWorkers: number;
  faults: FaultKind[];
  /** Size of the large outputs in MiB (0 = no large-output pipelines). */
  largeOutputMiB: number;
  /**
   * Backend callbacks: `all` checks terminal delivery, signatures and gap-free sequences; `terminal`
   * leaves out the sequence check; `off` sends no callbacks.
   */
  callbacks: 'all' | 'terminal' | 'off';
  /**
   * Webhooks as nudges: `on` (default) gives every worker its own in-worker receiver and has RunComfy
   * call one of them or the shared standalone receiver; `off` finds every job's end by polling alone.
   */
  webhooks: 'on' | 'off';
  /** Share (0..1) of pipelines started on the resubmit-policy task queue. */
  resubmitShare: number;
  /** Share (0..1) of face-swapping pipelines whose face is uploaded with the client (its r2:// reference in the spec) instead of a data URI. */
  uploadedInputs: number;
  /** How long closing pipelines may take after the fault window, in minutes. */
  drainMinutes: number;
  /** Longest S3 gateway outage, in seconds. */
  maxOutageSeconds: number;
  json: boolean;
  /** Keep the work folder (logs, databases) after the run. */
  keep: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `usage: npm run chaos -- --seed <n> --minutes <m> [options]

  --seed <n>                   campaign seed (integer ≥ 0): decides pipelines, faults and their moments
  --minutes <m>                length of the fault window (0.5 … 600)
  --pipelines-per-minute <k>   pipelines started per minute (default 20)
  --faults-per-minute <k>      faults injected per minute (default 8)
  --workers <w>                worker processes on the main task queue (default 2, at least 2)
  --resubmit-workers <w>       worker processes on the resubmit-policy queue (default 1; 0 = none)
  --webhooks <on|off>          RunComfy webhooks as nudges with polling as the backstop (default on), or polling alone
  --callbacks <all|terminal|off>  backend callbacks to a flaky receiver: check all (default), only the terminal event, or none
  --resubmit-share <share>     share of pipelines on the resubmit-policy queue (default 0.3)
  --faults <list>              comma-separated fault kinds (default: all), or "all"
  --large-output-mib <n>       size of large outputs (default 256; 0 = none)
  --uploaded-inputs <share>    share of face swaps whose face is uploaded with the client (default 0.25)
  --drain-minutes <m>          longest wait for pipelines to close after the window (default 5)
  --max-outage-seconds <s>     longest S3 gateway outage (default 60)
  --json                       print one JSON summary as the last line of stdout
  --keep                       keep the work folder (logs, Temporal database)

fault kinds: ${FAULT_KINDS.join(', ')}`;

function numberFlag(flag: string, raw: string | undefined, { min, max, integer }: { min: number; max: number; integer?: boolean }): number {
  if (raw === undefined || raw.startsWith('--')) throw new UsageError(`${flag} needs a value`);
  const value = Number(raw);
  if (!Number.isFinite(value) || raw.trim() === '') throw new UsageError(`${flag}: expected a number, got "${raw}"`);
  if (integer && !Number.isInteger(value)) throw new UsageError(`${flag}: expected a whole number, got "${raw}"`);
  if (value < min || value > max) throw new UsageError(`${flag}: expected a value between ${min} and ${max}, got ${raw}`);
  return value;
}

export function parseFaultList(raw: string): FaultKind[] {
  if (raw === 'all') return [...FAULT_KINDS];
  if (raw === 'none' || raw === '') return [];
  const kinds = raw.split(',').map((k) => k.trim()).filter((k) => k.length > 0);
  const unknown = kinds.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new UsageError(`--faults: unknown fault kind ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${FAULT_KINDS.join(', ')})`);
  return [...new Set(kinds)] as FaultKind[];
}

export function parseChaosArgs(argv: readonly string[]): ChaosOptions {
  const options: Partial<ChaosOptions> = {};
  const defaults: Omit<ChaosOptions, 'seed' | 'minutes'> = {
    pipelinesPerMinute: 20,
    faultsPerMinute: 8,
    workers: 2,
    resubmitWorkers: 1,
    faults: [...FAULT_KINDS],
    largeOutputMiB: 256,
    uploadedInputs: 0.25,
    resubmitShare: 0.3,
    callbacks: 'all',
    webhooks: 'on',
    drainMinutes: 5,
    maxOutageSeconds: 60,
    json: false,
    keep: false,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string | undefined => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case '--seed':
        options.seed = numberFlag(flag, value(), { min: 0, max: 0xffffffff, integer: true });
        break;
      case '--minutes':
        options.minutes = numberFlag(flag, value(), { min: 0.5, max: 600 });
        break;
      case '--pipelines-per-minute':
        options.pipelinesPerMinute = numberFlag(flag, value(), { min: 1, max: 600 });
        break;
      case '--faults-per-minute':
        options.faultsPerMinute = numberFlag(flag, value(), { min: 0, max: 120 });
        break;
      case '--workers':
        options.workers = numberFlag(flag, value(), { min: 2, max: 16, integer: true });
        break;
      case '--resubmit-workers':
        options.resubmitWorkers = numberFlag(flag, value(), { min: 0, max: 16, integer: true });
        break;
      case '--faults': {
        const raw = value();
        if (raw === undefined) throw new UsageError('--faults needs a value');
        options.faults = parseFaultList(raw);
        break;
      }
      case '--large-output-mib':
        options.largeOutputMiB = numberFlag(flag, value(), { min: 0, max: 4096, integer: true });
        break;
      case '--callbacks': {
        const raw = value();
        if (raw !== 'all' && raw !== 'terminal' && raw !== 'off') throw new UsageError(`--callbacks: expected all, terminal or off, got "${raw ?? ''}"`);
        options.callbacks = raw;
        break;
      }
      case '--webhooks': {
        const raw = value();
        if (raw !== 'on' && raw !== 'off') throw new UsageError(`--webhooks: expected on or off, got "${raw ?? ''}"`);
        options.webhooks = raw;
        break;
      }
      case '--resubmit-share':
        options.resubmitShare = numberFlag(flag, value(), { min: 0, max: 1 });
        break;
      case '--uploaded-inputs':
        options.uploadedInputs = numberFlag(flag, value(), { min: 0, max: 1 });
        break;
      case '--drain-minutes':
        options.drainMinutes = numberFlag(flag, value(), { min: 0.5, max: 120 });
        break;
      case '--max-outage-seconds':
        options.maxOutageSeconds = numberFlag(flag, value(), { min: 1, max: 1800 });
        break;
      case '--json':
        if (inline !== undefined) throw new UsageError('--json takes no value');
        options.json = true;
        break;
      case '--keep':
        if (inline !== undefined) throw new UsageError('--keep takes no value');
        options.keep = true;
        break;
      case '--help':
      case '-h':
        throw new UsageError('');
      default:
        throw new UsageError(`unknown flag "${arg}"`);
    }
  }
  if (options.seed === undefined) throw new UsageError('--seed is required');
  if (options.minutes === undefined) throw new UsageError('--minutes is required');
  const parsed = { ...defaults, ...options } as ChaosOptions;
  // Without resubmit workers the default share has nowhere to go: everything runs on the main queue.
  if (options.resubmitShare === undefined && parsed.resubmitWorkers === 0) parsed.resubmitShare = 0;
  const webhookFaults = parsed.faults.filter((k) => WEBHOOK_FAULT_KINDS.has(k));
  // Only explicit choices are refused; the default "all" simply leaves them out without webhooks.
  if (parsed.webhooks === 'off' && options.faults !== undefined && webhookFaults.length > 0) {
    throw new UsageError(`--faults: ${webhookFaults.join(', ')} need --webhooks on`);
  }
  if (parsed.webhooks === 'off') parsed.faults = parsed.faults.filter((k) => !WEBHOOK_FAULT_KINDS.has(k));
  if (parsed.resubmitShare > 0 && parsed.resubmitWorkers === 0) throw new UsageError('--resubmit-share: pipelines on the resubmit queue need --resubmit-workers of at least 1');
  return parsed;
}

/** The command that replays a campaign: the same seed and every flag that shapes it. */
export function replayCommand(o: ChaosOptions): string {
  return [
    'npm run chaos --',
    `--seed ${o.seed}`,
    `--minutes ${o.minutes}`,
    `--pipelines-per-minute ${o.pipelinesPerMinute}`,
    `--faults-per-minute ${o.faultsPerMinute}`,
    `--workers ${o.workers}`,
    `--resubmit-workers ${o.resubmitWorkers}`,
    `--resubmit-share ${o.resubmitShare}`,
    `--callbacks ${o.callbacks}`,
    `--webhooks ${o.webhooks}`,
    `--faults ${o.faults.length > 0 ? o.faults.join(',') : 'none'}`,
    `--large-output-mib ${o.largeOutputMiB}`,
    `--uploaded-inputs ${o.uploadedInputs}`,
    `--max-outage-seconds ${o.maxOutageSeconds}`,
  ].join(' ');
}
