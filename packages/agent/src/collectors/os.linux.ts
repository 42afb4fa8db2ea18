import { readFileSync } from 'node:fs';
import { NoDataError } from '../procfs/fs.ts';
import { parseOsRelease, rootfsPath } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

const INFO_LABELS: [label: string, key: string][] = [
  ['build_id', 'BUILD_ID'],
  ['id', 'ID'],
  ['id_like', 'ID_LIKE'],
  ['image_id', 'IMAGE_ID'],
  ['image_version', 'IMAGE_VERSION'],
  ['name', 'NAME'],
  ['pretty_name', 'PRETTY_NAME'],
  ['variant', 'VARIANT'],
  ['variant_id', 'VARIANT_ID'],
  ['version', 'VERSION'],
  ['version_codename', 'VERSION_CODENAME'],
  ['version_id', 'VERSION_ID'],
];

/**
 * A small file on the root file system the agent itself runs from, read in place: if that file
 * system hangs, so does the agent's own code, so the thread pool would not help.
 */
function readSmallFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** `22.04` -> 22.04, `12` -> 12, `rolling` -> undefined. */
export function osVersionNumber(versionId: string | undefined): number | undefined {
  const m = versionId ? /^[0-9]+\.?[0-9]*/.exec(versionId) : null;
  return m ? Number(m[0]) : undefined;
}

export default defineCollector({
  name: 'os',
  defaultEnabled: true,
  description: 'Operating system name and version from os-release(5).',
  create: () => ({
    update(out, { roots }) {
      const text = readSmallFile(rootfsPath(roots, 'etc/os-release')) ?? readSmallFile(rootfsPath(roots, 'usr/lib/os-release'));
      if (text === undefined) throw new NoDataError('neither /etc/os-release nor /usr/lib/os-release exists');
      const os = parseOsRelease(text);
      const labels: Record<string, string> = {};
      for (const [label, key] of INFO_LABELS) labels[label] = os.get(key) ?? '';
      out.gauge('node_os_info', 'Operating system identity from os-release; always 1.', 1, labels);
      const version = osVersionNumber(os.get('VERSION_ID'));
      if (version !== undefined) {
        out.gauge('node_os_version', 'Operating system version (VERSION_ID) as a number.', version, {
          id: os.get('ID') ?? '',
          id_like: os.get('ID_LIKE') ?? '',
          name: os.get('NAME') ?? '',
        });
      }
    },
  }),
});
