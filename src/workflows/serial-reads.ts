import { patched } from '@temporalio/workflow';

/**
 * Patch id (wire name, never renamed), decided at a run's first status read: a run's status reads
 * (local activities) go one at a time, across all its parallel steps.
 *
 * Why: when two parallel steps' reads complete within one workflow task, the live run gets their
 * results in two activations, and a coroutine woken by `condition()` in between (the callbacks
 * watcher, seeing the first read's progress) emits its command between the two steps' commands. A
 * replay gets both results in one activation and wakes that coroutine only after both: the commands
 * come in another order, and the replay fails with a nondeterminism error at the next worker crash,
 * deploy or cache eviction, stranding the pipeline (chaos campaign seed 101, `replays` invariant,
 * docs/reliability.md). One read in flight at a time gets each result its own activation both ways.
 * Runs started before this patch keep reading concurrently, as their histories were written.
 */
export const SERIAL_STATUS_READS_PATCH = 'serial-status-reads';

interface ReadQueue {
  serial?: boolean;
  tail: Promise<unknown>;
}

/** Keyed by an object that lives exactly as long as the run (its nudge board). */
const queues = new WeakMap<object, ReadQueue>();

/** `read`, made to run one call at a time among every function wrapped with the same `run` key. */
export function oneReadAtATime<I, O>(run: object, read: (input: I) => Promise<O>): (input: I) => Promise<O> {
  return (input) => {
    let queue = queues.get(run);
    if (!queue) {
      queue = { tail: Promise.resolve() };
      queues.set(run, queue);
    }
    queue.serial ??= patched(SERIAL_STATUS_READS_PATCH);
    if (!queue.serial) return read(input);
    const result = queue.tail.then(() => read(input));
    queue.tail = result.catch(() => undefined);
    return result;
  };
}
