#!/usr/bin/env node
// `rcp`: the operator CLI (src/cli/main.ts), run from its TypeScript sources through tsx's ESM loader,
// so an installed or linked checkout needs no build step. Arguments and exit code pass through.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../src/cli/main.ts', import.meta.url).href);
