// Bundles the agent or the server, with the workspace packages' TypeScript sources, into one CommonJS
// script that Node's single executable applications can run.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';

export interface BuildInfo {
  version: string;
  commit: string;
  buildDate: string;
  target: string;
}

const root = join(import.meta.dirname, '..', '..');

/**
 * Top-level awaits, which CommonJS cannot hold, each replaced with what the bundle already has.
 * The collector options schema gathers every platform's collector files: the bundle carries them all.
 */
const REWRITES: [file: string, from: string, to: string][] = [
  [
    'agent/src/collectors/options.ts',
    '(await Promise.all(PLATFORMS.map((platform) => loadCollectorDefinitions(platform)))).flat()',
    "require('falconet:collectors').default.map((c) => c.definition)",
  ],
];

/** Modules made here: the agent's collector files and the server's migrations, which the sources find by reading a directory. */
function generated(): Plugin {
  const collectorsDir = join(root, 'packages/agent/src/collectors');
  const migrationsDir = join(root, 'packages/server/src/db/migrations');
  return {
    name: 'falconet-generated',
    setup(b) {
      b.onResolve({ filter: /^falconet:/ }, (args) => ({ path: args.path, namespace: 'falconet' }));
      b.onLoad({ filter: /.*/, namespace: 'falconet' }, (args) => {
        if (args.path === 'falconet:collectors') {
          const files = readdirSync(collectorsDir)
            .filter((f) => /^[a-z0-9_]+\.(linux|darwin|win32|common)\.ts$/.test(f))
            .sort();
          const imports = files.map((f, i) => `import c${i} from ${JSON.stringify(join(collectorsDir, f))};`);
          const list = files.map((f, i) => `{ file: ${JSON.stringify(f)}, definition: c${i} }`);
          return { contents: `${imports.join('\n')}\nexport default [${list.join(', ')}];`, loader: 'js', resolveDir: collectorsDir };
        }
        if (args.path === 'falconet:migrations') {
          const files = readdirSync(migrationsDir)
            .filter((f) => f.endsWith('.ts'))
            .sort();
          const imports = files.map((f, i) => `import * as m${i} from ${JSON.stringify(join(migrationsDir, f))};`);
          const list = files.map((f, i) => `${JSON.stringify(f.replace(/\.ts$/, ''))}: m${i}`);
          return { contents: `${imports.join('\n')}\nexport default { ${list.join(', ')} };`, loader: 'js', resolveDir: migrationsDir };
        }
        return undefined;
      });
      b.onLoad({ filter: /[\\/]packages[\\/][a-z]+[\\/]src[\\/].*\.ts$/ }, (args) => {
        // createRequire(import.meta.url)(X) loads a module late (to keep it out of memory until used): bundled, it is a plain require.
        let contents = readFileSync(args.path, 'utf8').replaceAll('createRequire(import.meta.url)(', 'require(');
        for (const [file, from, to] of REWRITES) {
          if (!args.path.endsWith(file)) continue;
          if (!contents.includes(from)) throw new Error(`${file} no longer holds the text the bundle rewrites: ${from}`);
          contents = contents.replace(from, to);
        }
        return { contents, loader: 'ts' };
      });
    },
  };
}

/** The bundled script's text. `entry` is a file under scripts/package. */
export async function bundle(entry: string, info: BuildInfo | undefined): Promise<string> {
  const result = await build({
    entryPoints: [join(import.meta.dirname, entry)],
    bundle: true,
    write: false,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    conditions: ['source', 'module', 'node'],
    mainFields: ['module', 'main'],
    // The native helpers come from an asset (entry-agent.ts); optional native parts of dependencies stay out.
    external: ['*.node', 'cpu-features', 'pino-pretty'],
    // A single-file build runs from its own executable: import.meta.url names it.
    define: {
      'import.meta.url': 'falconetBundleUrl',
      ...(info ? { FALCONET_BUILD_INFO: JSON.stringify(info) } : {}),
    },
    banner: { js: 'const falconetBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
    plugins: [generated()],
    logLevel: 'error',
    legalComments: 'inline',
    // Less source for V8 to hold; names kept, so stack traces still name functions.
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
  });
  return result.outputFiles[0]?.text ?? '';
}
