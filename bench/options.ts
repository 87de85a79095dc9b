/** Command-line flags of `npm run bench` (documented in docs/benchmark.md). */
import { parseArgs } from 'node:util';
import { parseDurationMs, parseSizeBytes } from '../src/emulator/cli-options.js';

export const BENCH_SECTIONS = ['overhead', 'scale', 'steady', 'api', 'copy'] as const;
/** How the worker learns a job ended: status reads alone, or webhooks nudging it with reads as the backstop. */
export const WAIT_MODES = ['polling', 'webhooks'] as const;
export type WaitMode = (typeof WAIT_MODES)[number];
export type BenchSection = (typeof BENCH_SECTIONS)[number];

export interface BenchOptions {
  sections: BenchSection[];
  outDir: string;
  /** Wait modes the overhead and scale sections measure, each side by side with the others. */
  modes: WaitMode[];
  /** WEBHOOK_BACKSTOP_INTERVAL_MS of a worker with webhooks on; the worker's default when undefined. */
  backstopIntervalMs: number | undefined;
  overhead: { pipelines: number; jobMs: number; pollIntervalMs: number; rounds: number };
  scale: { levels: number[]; jobMs: number; timeoutMs: number; startConcurrency: number; startRatePerSecond: number | undefined; workerProfile: 'fixed-poll' | 'default' };
  steady: { pipelines: number; jobMs: number; startRatePerSecond: number; settleMs: number; sampleMs: number; waitTimeoutMs: number; mode: WaitMode };
  api: { pipelines: number; jobMs: number };
  copy: { sizesBytes: number[]; partSizeMib: number; queueSize: number };
  emulatorMode: 'child' | 'in-process';
  s3Storage: 'memory' | 'file' | undefined;
  s3CapacityBytes: number;
  sampleMs: number;
  temporal?: { address: string; namespace: string };
  s3?: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string };
  help: boolean;
}

const FLAGS = {
  sections: { type: 'string', help: `comma-separated sections to run: ${BENCH_SECTIONS.join(',')} (default all)` },
  modes: { type: 'string', help: `overhead + scale: wait modes to measure side by side: ${WAIT_MODES.join(',')} (default both)` },
  'backstop-interval-ms': { type: 'string', help: 'webhooks mode: WEBHOOK_BACKSTOP_INTERVAL_MS of the worker (default: the worker\'s own default)' },
  out: { type: 'string', help: 'folder for the JSON and SVG results (default results/)' },
  pipelines: { type: 'string', help: 'overhead: pipelines per round, all in flight at once (default 10)' },
  'job-ms': { type: 'string', help: 'overhead: fixed emulator job run time (default 2500ms)' },
  'poll-interval-ms': { type: 'string', help: 'overhead + scale: the worker\'s fixed poll interval, also used by the baseline (default 1000ms)' },
  rounds: { type: 'string', help: 'overhead: rounds of (pipelines, baseline), order alternating (default 2)' },
  'scale-levels': { type: 'string', help: 'scale: pipelines in flight per level (default 500)' },
  'scale-job-ms': { type: 'string', help: 'scale: fixed job run time (default 60s)' },
  'scale-timeout': { type: 'string', help: 'scale: give up on a level after this long and terminate what still runs (default 15m)' },
  'scale-start-rate': { type: 'string', help: 'scale: start pipelines at this many per second, or "all" at once (default 5)' },
  'scale-poll': { type: 'string', help: 'scale: default (the shipped poll settings, default) or fixed (the fixed-poll worker)' },
  'steady-pipelines': { type: 'string', help: 'steady: pipelines kept in flight on one worker (default 1000)' },
  'steady-job-ms': { type: 'string', help: 'steady: job run time, longer than the whole measurement (default 10m)' },
  'steady-start-rate': { type: 'string', help: 'steady: pipelines started per second (default 10)' },
  'steady-settle': { type: 'string', help: 'steady: pause once every first job runs, before sampling (default 10s)' },
  'steady-sample': { type: 'string', help: 'steady: how long the worker\'s RSS and CPU are sampled (default 90s)' },
  'steady-wait-timeout': { type: 'string', help: 'steady: sample anyway when not every first job runs after this long (default 5m)' },
  'steady-mode': { type: 'string', help: `steady: ${WAIT_MODES.join(' or ')} (default webhooks)` },
  'api-pipelines': { type: 'string', help: 'api: pipelines with longer jobs and the worker\'s default poll settings (default 4)' },
  'api-job-ms': { type: 'string', help: 'api: job run time (default 20s)' },
  'copy-sizes': { type: 'string', help: 'copy: output sizes (default 1GiB,4GiB)' },
  'copy-part-mib': { type: 'string', help: 'copy: multipart part size in MiB, worker and raw upload (default 8)' },
  'copy-queue-size': { type: 'string', help: 'copy: parts in flight per upload, worker and raw upload (default 4)' },
  emulator: { type: 'string', help: 'child | in-process (default child, so its CPU is measured apart)' },
  's3-storage': { type: 'string', help: 'memory | file (default: file when the copy section runs, else memory)' },
  's3-capacity': { type: 'string', help: 'capacity of the S3 server: a sparse file, or the memory store\'s limit (default 40GiB)' },
  'sample-ms': { type: 'string', help: 'worker RSS sampling interval; metrics are scraped every second (default 200ms)' },
  'temporal-address': { type: 'string', help: 'use this Temporal server instead of starting a dev server' },
  'temporal-namespace': { type: 'string', help: 'namespace on --temporal-address (default default)' },
  's3-endpoint': { type: 'string', help: 'use this S3 server instead of starting one (with --s3-bucket, --s3-access-key-id, --s3-secret-access-key)' },
  's3-bucket': { type: 'string', help: 'bucket on --s3-endpoint' },
  's3-access-key-id': { type: 'string', help: 'access key of --s3-endpoint' },
  's3-secret-access-key': { type: 'string', help: 'secret key of --s3-endpoint' },
  help: { type: 'boolean', help: 'show this help' },
} as const;

export function benchHelp(): string {
  const lines = Object.entries(FLAGS).map(([name, flag]) => `  --${name}${flag.type === 'string' ? ' <v>' : ''}`.padEnd(30) + flag.help);
  return ['usage: npm run bench -- [flags]', '', ...lines, '', 'Durations: 1500, 500ms, 2s, 3m. Sizes: 1048576, 64MiB, 4GiB.'].join('\n');
}

function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number ≥ 1, got "${text}"`);
  return value;
}

function list<T>(text: string, parse: (item: string) => T): T[] {
  return text.split(',').map((item) => item.trim()).filter((item) => item !== '').map(parse);
}

export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(Object.entries(FLAGS).map(([name, flag]) => [name, { type: flag.type }])) as Record<keyof typeof FLAGS, { type: 'string' | 'boolean' }>,
    strict: true,
    allowPositionals: false,
  });
  const text = (name: keyof typeof FLAGS): string | undefined => values[name] as string | undefined;
  const sections = text('sections') === undefined ? [...BENCH_SECTIONS] : list(text('sections')!, (item) => {
    if (!(BENCH_SECTIONS as readonly string[]).includes(item)) throw new Error(`unknown section "${item}" (sections: ${BENCH_SECTIONS.join(', ')})`);
    return item as BenchSection;
  });
  const duration = (name: keyof typeof FLAGS, fallback: number): number => (text(name) === undefined ? fallback : parseDurationMs(text(name)!));
  const count = (name: keyof typeof FLAGS, fallback: number): number => (text(name) === undefined ? fallback : positiveInteger(name, text(name)!));
  const emulatorMode = text('emulator') ?? 'child';
  if (emulatorMode !== 'child' && emulatorMode !== 'in-process') throw new Error('--emulator must be child or in-process');
  const scalePoll = text('scale-poll') ?? 'default';
  if (scalePoll !== 'fixed' && scalePoll !== 'default') throw new Error('--scale-poll must be fixed or default');
  const waitMode = (name: string, item: string): WaitMode => {
    if (!(WAIT_MODES as readonly string[]).includes(item)) throw new Error(`--${name}: unknown mode "${item}" (modes: ${WAIT_MODES.join(', ')})`);
    return item as WaitMode;
  };
  const modes = text('modes') === undefined ? [...WAIT_MODES] : [...new Set(list(text('modes')!, (item) => waitMode('modes', item)))];
  if (modes.length === 0) throw new Error('--modes needs at least one mode');
  const scaleStartRate = text('scale-start-rate') ?? '5';
  const s3Storage = text('s3-storage');
  if (s3Storage !== undefined && s3Storage !== 'memory' && s3Storage !== 'file') throw new Error('--s3-storage must be memory or file');

  const options: BenchOptions = {
    sections,
    outDir: text('out') ?? 'results',
    modes,
    backstopIntervalMs: text('backstop-interval-ms') === undefined ? undefined : parseDurationMs(text('backstop-interval-ms')!),
    overhead: { pipelines: count('pipelines', 10), jobMs: duration('job-ms', 2500), pollIntervalMs: duration('poll-interval-ms', 1000), rounds: count('rounds', 2) },
    scale: {
      levels: text('scale-levels') === undefined ? [500] : list(text('scale-levels')!, (item) => positiveInteger('scale-levels', item)),
      jobMs: duration('scale-job-ms', 60_000),
      timeoutMs: duration('scale-timeout', 15 * 60_000),
      startConcurrency: 32,
      startRatePerSecond: scaleStartRate === 'all' ? undefined : positiveInteger('scale-start-rate', scaleStartRate),
      workerProfile: scalePoll === 'fixed' ? 'fixed-poll' : 'default',
    },
    steady: {
      pipelines: count('steady-pipelines', 1000),
      jobMs: duration('steady-job-ms', 10 * 60_000),
      startRatePerSecond: count('steady-start-rate', 10),
      settleMs: duration('steady-settle', 10_000),
      sampleMs: duration('steady-sample', 90_000),
      waitTimeoutMs: duration('steady-wait-timeout', 5 * 60_000),
      mode: waitMode('steady-mode', text('steady-mode') ?? 'webhooks'),
    },
    api: { pipelines: count('api-pipelines', 4), jobMs: duration('api-job-ms', 20_000) },
    copy: {
      sizesBytes: text('copy-sizes') === undefined ? [1024 ** 3, 4 * 1024 ** 3] : list(text('copy-sizes')!, parseSizeBytes),
      partSizeMib: count('copy-part-mib', 8),
      queueSize: count('copy-queue-size', 4),
    },
    emulatorMode,
    s3Storage,
    s3CapacityBytes: text('s3-capacity') === undefined ? 40 * 1024 ** 3 : parseSizeBytes(text('s3-capacity')!),
    sampleMs: duration('sample-ms', 200),
    help: values.help === true,
  };
  if (text('temporal-address')) options.temporal = { address: text('temporal-address')!, namespace: text('temporal-namespace') ?? 'default' };
  if (text('s3-endpoint')) {
    const bucket = text('s3-bucket');
    const accessKeyId = text('s3-access-key-id');
    const secretAccessKey = text('s3-secret-access-key');
    if (!bucket || !accessKeyId || !secretAccessKey) throw new Error('--s3-endpoint needs --s3-bucket, --s3-access-key-id and --s3-secret-access-key');
    options.s3 = { endpoint: text('s3-endpoint')!, bucket, accessKeyId, secretAccessKey };
  }
  return options;
}
