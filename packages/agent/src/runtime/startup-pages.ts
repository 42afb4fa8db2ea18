import { readFileSync, readlinkSync } from 'node:fs';
import type { Logger } from 'pino';
import { optionalNativeHelpers } from '../native.ts';

/**
 * Starting Node touches some 35 MB of the `node` binary (the snapshot it deserializes, the
 * bootstrap, the module loader, the compiler of every module the agent loads), and the pages stay
 * mapped, counted in the agent's resident memory, though a scrape or a report afterwards uses
 * some 9 MB of them. Once the agent has started, its read-only mappings of the binary are
 * unmapped with madvise(MADV_DONTNEED): the pages are clean copies of the file, the page cache
 * keeps them, and whatever the agent runs next maps back the pages it needs (a minor fault each).
 * This is what the kernel does to an idle process's file pages under memory pressure, done once
 * and at a time when it costs nothing. The C heap is trimmed at the same time (malloc_trim).
 *
 * Only mappings of the executable itself, without write permission and without a single private
 * (copied) page, resident or swapped out, are released: relocated data and anything the process
 * wrote keep their pages.
 */
export interface Mapping {
  start: number;
  end: number;
  residentKb: number;
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$/;

/**
 * The mappings of `exe` in /proc/self/smaps text that hold only clean copies of the file: read-only,
 * and with `Anonymous:` (pages copied on write) and `Swap:` (such pages, swapped out) both present
 * and 0. A page of either kind exists nowhere else, and dropping it would lose it; a kernel that
 * does not print the lines leaves every mapping alone.
 */
export function releasableMappings(smaps: string, exe: string): Mapping[] {
  const out: Mapping[] = [];
  let current: (Mapping & { eligible: boolean; anonymousKb: number; swapKb: number }) | undefined;
  const finish = () => {
    if (current?.eligible && current.anonymousKb === 0 && current.swapKb === 0)
      out.push({ start: current.start, end: current.end, residentKb: current.residentKb });
  };
  for (const line of smaps.split('\n')) {
    const m = HEADER.exec(line);
    if (m) {
      finish();
      const perms = m[3] as string;
      current = {
        start: Number.parseInt(m[1] as string, 16),
        end: Number.parseInt(m[2] as string, 16),
        residentKb: 0,
        anonymousKb: -1,
        swapKb: -1,
        eligible: m[4] === exe && perms[1] === '-',
      };
    } else if (current && line.startsWith('Rss:')) current.residentKb = Number.parseInt(line.slice(4), 10);
    else if (current && line.startsWith('Anonymous:')) current.anonymousKb = Number.parseInt(line.slice(10), 10);
    else if (current && line.startsWith('Swap:')) current.swapKb = Number.parseInt(line.slice(5), 10);
  }
  finish();
  return out;
}

const TRIM_EVERY_MS = 1_000;
const TRIM = process.platform === 'linux' && process.env.FALCONET_RELEASE_STARTUP_PAGES !== 'off';
let lastTrimMs = 0;

/**
 * Gives the C heap's free pages back, at most once a second: what V8 mallocs for a full garbage
 * collection (marking) and for its compilations, freed, stays with the allocator until
 * trimmed, 4-6 MB under a scrape every 50 ms, and a trim every ten seconds left it there for most
 * of the time between two collections. A trim takes well under a millisecond. Called after each
 * collection.
 */
export function trimCHeap(now = Date.now()): void {
  if (!TRIM || now - lastTrimMs < TRIM_EVERY_MS) return;
  lastTrimMs = now;
  optionalNativeHelpers()?.trimMalloc();
}

export interface PageRelease {
  mappings: number;
  /** Resident kB of those mappings before the release. */
  releasedKb: number;
}

/** Unmaps the releasable pages of the node binary; an Error when the native helpers are missing or madvise refuses. */
export function releaseStartupPages(): PageRelease | Error {
  const native = optionalNativeHelpers();
  if (!native) return new Error('the native helpers are not built');
  const exe = readlinkSync('/proc/self/exe');
  const mappings = releasableMappings(readFileSync('/proc/self/smaps', 'utf8'), exe);
  let releasedKb = 0;
  for (const m of mappings) {
    const rc = native.dropPages(m.start, m.end - m.start);
    if (rc !== 0) return new Error(`madvise(MADV_DONTNEED) on ${exe} at 0x${m.start.toString(16)} failed: errno ${-rc}`);
    releasedKb += m.residentKb;
  }
  // The start's freed C memory (compiler zones, module loading) goes back too.
  native.trimMalloc();
  return { mappings: mappings.length, releasedKb };
}

/**
 * Releases the start's pages `delayMs` after the agent started or reloaded (the collectors and
 * outputs have run once by then). FALCONET_RELEASE_STARTUP_PAGES=off keeps them; a number sets the
 * delay in milliseconds. Linux only.
 */
export class StartupPages {
  readonly #log: Logger;
  readonly #delayMs: number | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(log: Logger, env: NodeJS.ProcessEnv = process.env) {
    this.#log = log;
    const setting = env.FALCONET_RELEASE_STARTUP_PAGES;
    if (process.platform !== 'linux' || setting === 'off') this.#delayMs = undefined;
    else if (setting !== undefined && /^\d+$/.test(setting)) this.#delayMs = Number(setting);
    else {
      if (setting !== undefined)
        log.warn({ FALCONET_RELEASE_STARTUP_PAGES: setting }, 'expected "off" or a delay in milliseconds; using 10000');
      this.#delayMs = 10_000;
    }
  }

  /**
   * (Re)arms the release: after a start, and after each reload, which loads code of its own. It
   * runs twice: once the start is over, and again twelve times later, when the first scrapes and
   * reports have compiled what they run often and the code that ran only once can go as well.
   */
  schedule(): void {
    const delayMs = this.#delayMs;
    if (delayMs === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#release();
      this.#timer = setTimeout(() => this.#release(), delayMs * 11);
      this.#timer.unref();
    }, delayMs);
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  #release(): void {
    const r = releaseStartupPages();
    if (r instanceof Error) {
      this.#log.debug({ err: r.message }, 'startup pages of the node binary kept');
      return;
    }
    // Memory housekeeping, not something a user acts on: debug, as the pages it keeps.
    this.#log.debug(
      { mappings: r.mappings, releasedMb: Math.round(r.releasedKb / 102.4) / 10 },
      'released the startup pages of the node binary',
    );
  }
}
