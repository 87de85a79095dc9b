import { Context } from '@temporalio/activity';
import type { PersistOutputsHeartbeat, PersistOutputsInput, PersistOutputsResult } from '../contract/activity-contract.js';
import type { PersistedOutput } from '../contract/pipeline-contract.js';
import { urlWithoutQuery } from '../net/redact-urls.js';
import { expandKeyTemplate } from '../storage/key-template.js';
import { deterministicOutputKey } from '../storage/output-key.js';
import type { ActivityDeps } from './deps.js';
import { cancellationOf, storageFailure } from './failures.js';
import { Semaphore } from './semaphore.js';

/**
 * Copies a finished job's output files from RunComfy's temporary URLs into R2, streaming (bounded
 * memory) under deterministic keys. A retry skips files already stored (the store checks the key
 * first), so nothing is copied twice or left half-written; progress is heartbeated in bytes.
 */
export function createPersistOutputs(deps: ActivityDeps) {
  // Shared by every step on this worker: the bound on copy memory is per process, not per pipeline.
  const copySlots = new Semaphore(deps.settings.maxConcurrentCopies);

  return async function persistOutputs(input: PersistOutputsInput): Promise<PersistOutputsResult> {
    const ctx = Context.current();
    const progress: PersistOutputsHeartbeat = { bytesCopied: 0, filesDone: 0, filesTotal: input.outputs.length };
    // A copy queued for a memory slot, or waiting for a slow first byte, is alive: it heartbeats on a
    // timer as well as on progress, so it never times out while it waits its turn. At least every
    // second: cancellation reaches an activity only through heartbeats, and a cancelled pipeline
    // must stop a silent (hostile) source within seconds (the SDK throttles what is sent).
    const ticker = setInterval(() => ctx.heartbeat(progress), Math.max(10, Math.min(1_000, Math.floor((ctx.info.heartbeatTimeoutMs ?? 60_000) / 3))));
    try {
      return await copyAll(ctx, input, progress);
    } finally {
      clearInterval(ticker);
    }
  };

  async function copyAll(ctx: Context, input: PersistOutputsInput, progress: PersistOutputsHeartbeat): Promise<PersistOutputsResult> {
    const usedKeys = new Set<string>();
    const persisted: PersistedOutput[] = [];
    // Files of a resubmitted job get keys of their own: a key always holds one job's bytes.
    const attempt = input.attempt !== undefined && input.attempt > 1 ? { attempt: input.attempt } : {};
    for (const [index, output] of input.outputs.entries()) {
      const parts = { pipelineId: input.pipelineId, stepId: input.stepId, nodeId: output.nodeId, ...attempt };
      let key = input.keyTemplate
        ? expandKeyTemplate({ ...input.keyTemplate, pipelineId: input.pipelineId, stepId: input.stepId, attempt: input.attempt ?? 1, index, nodeId: output.nodeId, filename: output.filename, allowedPrefixes: deps.settings.integration?.allowedKeyPrefixes ?? [] })
        : deterministicOutputKey({ ...parts, filename: output.filename });
      // Two files of one node with the same name must not overwrite each other, nor may the renamed
      // one land on another file's name (`2-x.png`, `x.png`, `x.png`). A template's {index} keeps its keys apart.
      for (let n = 0; usedKeys.has(key) && !input.keyTemplate; n++) key = deterministicOutputKey({ ...parts, filename: `${index}-${n > 0 ? `${n}-` : ''}${output.filename}` });
      usedKeys.add(key);
      const bytesBefore = progress.bytesCopied;
      try {
        const stored = await copySlots.run(
          () =>
            deps.store.persistFromUrl({
              sourceUrl: output.url,
              key,
              // The object records its job: bytes of another request at this key are replaced.
              requestId: input.requestId,
              // Staging named after the output key (pipeline, step, file): a retry clears what a crash left.
              stagingName: key,
              signal: ctx.cancellationSignal,
              // Called for every chunk (tens of thousands per GiB): it only moves the figure the
              // ticker heartbeats. Each heartbeat goes through the SDK's heartbeat pipeline (and,
              // one at a time, a payload encoding and the native bridge): not a per-chunk cost.
              onProgress: (bytes) => {
                progress.bytesCopied = bytesBefore + bytes;
              },
            }),
          ctx.cancellationSignal,
        );
        if (!stored.alreadyPresent) deps.metrics?.bytesCopied(stored.bytes);
        if (stored.reusedBytes) {
          deps.metrics?.copyResumed?.(stored.reusedBytes);
          ctx.log.info('copy resumed from parts a crashed attempt had stored', { stepId: input.stepId, requestId: input.requestId, key, reusedBytes: stored.reusedBytes });
        }
        progress.bytesCopied = bytesBefore + stored.bytes;
        progress.filesDone++;
        ctx.heartbeat(progress);
        persisted.push({
          key: stored.key,
          bytes: stored.bytes,
          sha256: stored.sha256,
          contentType: stored.contentType,
          nodeId: output.nodeId,
          channel: output.channel,
          filename: output.filename,
          media: output.media,
          // History keeps where a file came from, never the signature or token in its query.
          sourceUrl: urlWithoutQuery(output.url),
        });
      } catch (error) {
        const cancelled = cancellationOf(ctx);
        if (cancelled) throw cancelled;
        throw storageFailure(error, { stepId: input.stepId, requestId: input.requestId });
      }
    }
    if (input.stepStartedAtMs !== undefined) deps.metrics?.stepSucceeded(input.stepKind ?? 'unknown', (Date.now() - input.stepStartedAtMs) / 1000);
    ctx.log.info('outputs persisted', { stepId: input.stepId, requestId: input.requestId, files: persisted.length, bytes: progress.bytesCopied });
    return { outputs: persisted };
  }
}
