/**
 * Errors → exit codes and secret-free JSON error documents. The codes are documented in HELP and
 * docs/cli.md; scripts rely on them.
 */
import {
  InvalidPipelineSpecError,
  isPipelineClientError,
  PipelineAlreadyStartedError,
  PipelineCancelledError,
  PipelineFailedError,
  PipelineNotFoundError,
} from '../client/index.js';
import type { PipelineProgress } from '../contract/pipeline-contract.js';
import { ConfigError } from '../config.js';
import { DeploymentRegistryError } from '../pipeline/registry.js';
import { isRunComfyError, RunComfyNotFoundError } from '../runcomfy/index.js';
import { UsageError } from './arguments.js';

/** Exit codes a script can rely on. Documented in HELP and docs/cli.md; never renumbered. */
export const EXIT_CODES = {
  ok: 0,
  pipelineFailed: 1,
  usage: 2,
  notFound: 3,
  cancelled: 4,
  alreadyStartedDifferentSpec: 5,
  interrupted: 130,
  unexpected: 10,
} as const;

/** The pipeline ended badly or a check failed: carries the exit code and the document already printed. */
export class CommandOutcome {
  constructor(readonly exitCode: number) {}
}

export function outcomeExitCode(view: PipelineProgress): number {
  if (view.status === 'succeeded') return EXIT_CODES.ok;
  if (view.status === 'cancelled') return EXIT_CODES.cancelled;
  return EXIT_CODES.pipelineFailed;
}

export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new CommandOutcome(EXIT_CODES.interrupted));
  return new Promise((resolvePromise, reject) => {
    const onAbort = (): void => reject(new CommandOutcome(EXIT_CODES.interrupted));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolvePromise(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

export function exitCodeFor(error: unknown): number {
  if (error instanceof CommandOutcome) return error.exitCode;
  if (error instanceof UsageError || error instanceof ConfigError || error instanceof InvalidPipelineSpecError || error instanceof DeploymentRegistryError) return EXIT_CODES.usage;
  if (isPipelineClientError(error) && error.code === 'PIPELINE_CLIENT_NOT_CONFIGURED') return EXIT_CODES.usage;
  if (error instanceof PipelineNotFoundError || error instanceof RunComfyNotFoundError) return EXIT_CODES.notFound;
  if (error instanceof PipelineFailedError) return EXIT_CODES.pipelineFailed;
  if (error instanceof PipelineCancelledError) return EXIT_CODES.cancelled;
  if (error instanceof PipelineAlreadyStartedError) return EXIT_CODES.alreadyStartedDifferentSpec;
  return EXIT_CODES.unexpected;
}

/** A secret-free JSON description of an error: name, code, message and the typed fields. */
export function errorDocument(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { name: 'Error', code: 'UNEXPECTED', message: String(error) };
  const base: Record<string, unknown> = { name: error.name, code: (error as { code?: unknown }).code ?? 'UNEXPECTED', message: error.message };
  if (error instanceof InvalidPipelineSpecError) base['issues'] = error.issues;
  if (error instanceof ConfigError) base['problems'] = error.problems;
  if (error instanceof DeploymentRegistryError) base['issues'] = error.issues;
  if (error instanceof PipelineFailedError) Object.assign(base, { pipelineId: error.pipelineId, ...error.toInfo(), message: error.message });
  if (error instanceof PipelineCancelledError) Object.assign(base, { pipelineId: error.pipelineId, reason: error.reason });
  if (error instanceof PipelineNotFoundError || error instanceof PipelineAlreadyStartedError) base['pipelineId'] = error.pipelineId;
  if (isRunComfyError(error)) base['operation'] = error.operation;
  return base;
}
