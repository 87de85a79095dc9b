import { Context } from '@temporalio/activity';
import { stripUrlQueries } from '../net/redact-urls.js';
import { extractOutputFiles, type OutputFile } from '../runcomfy/outputs.js';
import type { FetchJobResultInput, FetchJobResultOutput, JobOutputRef } from '../contract/activity-contract.js';
import type { ActivityDeps } from './deps.js';
import { cancellationOf, runComfyFailure } from './failures.js';
import { isTransientJobFailure } from './job-failure.js';

function toRef(file: OutputFile): JobOutputRef {
  return { nodeId: file.nodeId, channel: file.channel, filename: file.filename, url: file.url, media: file.kind };
}

/** Reads a finished job's result: its outcome, the files to keep (no previews unless nothing else exists), and the remote error. */
export function createFetchJobResult(deps: ActivityDeps) {
  return async function fetchJobResult(input: FetchJobResultInput): Promise<FetchJobResultOutput> {
    const ctx = Context.current();
    try {
      return await readJobResult(deps, input, ctx.cancellationSignal);
    } catch (error) {
      throw cancellationOf(ctx) ?? error;
    }
  };
}

/** The body of `fetchJobResult`, also used by `awaitJob` when it returns the result itself. */
export async function readJobResult(deps: ActivityDeps, input: FetchJobResultInput, signal: AbortSignal): Promise<FetchJobResultOutput> {
  let result;
  try {
    result = await deps.runcomfy.getResult(input.deploymentId, input.requestId, { signal });
  } catch (error) {
    throw runComfyFailure(error);
  }
  // RunComfy's timestamps, when both parse: the GPU facts then measure the job by its own clock.
  const created = epochMsOf(result.createdAt);
  const finished = epochMsOf(result.finishedAt);
  const times = Number.isFinite(created) && Number.isFinite(finished) && finished >= created ? { remoteTimes: { createdAt: new Date(created).toISOString(), finishedAt: new Date(finished).toISOString() } } : {};
  if (result.status === 'cancelled') return { outcome: 'cancelled', outputs: [], ...times };
  if (result.status === 'failed') {
    const message = stripUrlQueries((result.failure?.message ?? 'the job failed without an error message').replace(/\s+/g, ' ')).slice(0, 2_000);
    const outcome: FetchJobResultOutput = { outcome: 'failed', outputs: [], error: message, transient: isTransientJobFailure(message, result.failure?.code), ...times };
    deps.metrics?.jobFinished(input.stepKind ?? 'unknown', 'failed');
    return outcome;
  }
  const saved = extractOutputFiles(result.outputs);
  // Some workflows only preview (PreviewImage): a preview is better than losing the job's work.
  const files = saved.length > 0 ? saved : extractOutputFiles(result.outputs, { includeTemp: true });
  deps.metrics?.jobFinished(input.stepKind ?? 'unknown', 'succeeded');
  return { outcome: 'succeeded', outputs: files.map(toRef), ...times };
}

/** An ISO string, or a number of Unix seconds (or milliseconds, when that large), as epoch ms; NaN otherwise. */
function epochMsOf(value: string | number | undefined): number {
  if (typeof value === 'number') return value > 1e11 ? value : value * 1000;
  return value !== undefined ? Date.parse(value) : NaN;
}
