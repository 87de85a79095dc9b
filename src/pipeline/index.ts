/**
 * The pipeline domain, safe to import from Temporal workflow code: zod and plain TypeScript only.
 * `registry-file.ts` (file loading) is deliberately not re-exported here.
 */
export * from './errors.js';
export * from './identifiers.js';
export * from './step-kinds.js';
export * from './param-values.js';
export * from './registry.js';
export * from './spec.js';
export * from './plan.js';
export * from './bindings-check.js';
export * from './overrides.js';
export * from './default-pipeline.js';
