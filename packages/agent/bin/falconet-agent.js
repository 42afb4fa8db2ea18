#!/usr/bin/env node
// Runs the built agent; `node --conditions=source src/cli.ts` runs it from source on Node 24.
// `run` restarts itself under the agent's V8 flags (src/runtime/node-flags.ts): none is set here.
await import('../dist/cli.js');
