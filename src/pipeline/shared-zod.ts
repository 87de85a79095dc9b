/**
 * Loads zod once per worker for every workflow it runs (see `src/worker/workflow-code.ts`): zod's
 * own code, classes and tables are shared, while each workflow still builds its own schemas from
 * them. Listing the bare package instead would not load it: zod declares itself free of side
 * effects, so the bundler drops an import whose bindings nobody uses.
 *
 * The SDK freezes what shared modules export, so zod must have finished setting itself up first:
 * it installs its default error messages and its memoizer when the first schemas are built, which
 * is done here.
 */
import { z } from 'zod';

z.strictObject({ text: z.string() }).safeParse({ text: '' });

export const sharedZod = z;
