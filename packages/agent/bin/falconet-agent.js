#!/usr/bin/env node
// Runs the built agent; `node --conditions=source src/cli.ts` runs it from source on Node 24.
import { setFlagsFromString } from 'node:v8';

// A long-running daemon whose every scrape allocates a few megabytes that die young: V8 would grow
// the young generation to 64 MB of resident memory for that. Kept at its initial size, the garbage
// is swept more often, at no measurable CPU cost per scrape, and the agent's memory stays flat.
// Set before anything is loaded, while the heap is still at its initial size.
setFlagsFromString('--semi-space-growth-factor=1');

await import('../dist/cli.js');
