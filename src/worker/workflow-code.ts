/**
 * Where the workflow code is and how it is bundled: one definition for the worker, the prebuilt
 * bundle (`npm run build`), the embedded stack and the replay tests, so all of them run the same code
 * the same way.
 */
import { fileURLToPath } from 'node:url';

const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

function sourcePath(relativeToSrc: string): string {
  return fileURLToPath(new URL(`../${relativeToSrc}${extension}`, import.meta.url));
}

/** The entry of the workflow code (`src/workflows/index`). */
export const workflowsPath = sourcePath('workflows/index');

/**
 * Modules evaluated once per worker and shared by every workflow it runs, instead of once per
 * workflow (with what they import). Without this each cached workflow carried its own copy of zod
 * and of every schema the spec is checked with: about 1 MB of a workflow's 1.5 MB, and milliseconds
 * of CPU at each start and after each cache eviction.
 *
 * The SDK deep-freezes what shared modules export, so that no workflow can leave state behind for
 * another. A module listed here (or imported by one) may therefore export only constants, pure
 * functions and classes, signal and query definitions, never an object a run mutates; and no zod
 * schema, which builds parts of itself on first use (schemas are handed out by functions instead,
 * see `src/pipeline/identifiers.ts`). `test/foundation/workflow-bundle.test.ts` checks both.
 */
export const sharedWorkflowModules: readonly string[] = [
  sourcePath('pipeline/shared-zod'),
  sourcePath('pipeline/spec'),
  sourcePath('pipeline/registry'),
  sourcePath('pipeline/plan'),
  sourcePath('pipeline/step-kinds'),
  sourcePath('format'),
  sourcePath('contract/pipeline-contract'),
  sourcePath('contract/search-attributes'),
  sourcePath('callbacks/events'),
];

/** Options for `bundleWorkflowCode`. */
export function workflowBundleOptions(): { workflowsPath: string; preloadModules: string[] } {
  return { workflowsPath, preloadModules: [...sharedWorkflowModules] };
}

/** Options for `Worker.create` / `Worker.runReplayHistories` when the worker bundles the code itself. */
export function workflowSourceOptions(): { workflowsPath: string; bundlerOptions: { preloadModules: string[] } } {
  return { workflowsPath, bundlerOptions: { preloadModules: [...sharedWorkflowModules] } };
}
