#!/usr/bin/env node
// Runs the built server; `node --conditions=source src/cli.ts` runs it from source on Node 24.
await import('../dist/cli.js');
