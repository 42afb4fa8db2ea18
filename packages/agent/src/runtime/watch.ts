import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

function contentOf(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Calls `onChange` when the configuration file's content changes. It watches the directory, not
 * the file: editors and Kubernetes ConfigMaps replace the file (rename, symlink swap) rather than
 * write into it, which a watch on the old inode would miss. Events are debounced and compared by
 * content, so saving an unchanged file does nothing.
 */
export class ConfigWatcher {
  readonly #file: string;
  readonly #onChange: () => void;
  readonly #debounceMs: number;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #last: string | undefined;

  constructor(file: string, onChange: () => void, debounceMs = 250) {
    this.#file = file;
    this.#onChange = onChange;
    this.#debounceMs = debounceMs;
  }

  /** Starts watching; returns false when the directory cannot be watched. */
  start(): boolean {
    if (this.#watcher) return true;
    this.#last = contentOf(this.#file);
    try {
      this.#watcher = watch(dirname(this.#file), { persistent: false }, (_event, name) => {
        if (name && name !== basename(this.#file) && !name.startsWith('..')) return;
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => this.#check(), this.#debounceMs);
        this.#timer.unref();
      });
      this.#watcher.on('error', () => this.close());
      return true;
    } catch {
      return false;
    }
  }

  /** The content a reload just read, so a SIGHUP reload is not repeated by the watcher. */
  sync(): void {
    this.#last = contentOf(this.#file);
  }

  #check(): void {
    const now = contentOf(this.#file);
    if (now === this.#last) return;
    this.#last = now;
    this.#onChange();
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
