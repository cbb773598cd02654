// How every project builds. An app (bundleOptions) is one ESM file with all dependencies inside,
// runnable with plain `node` (the container image holds nothing else); CommonJS dependencies
// (winston...) need a `require` in ESM scope, which the banner provides. A library (libraryOptions)
// builds its entry points and leaves dependencies as imports.
import type { Options } from 'tsup';

export function bundleOptions(entry: Record<string, string>, outDir = 'dist'): Options {
  return {
    entry,
    format: ['esm'],
    platform: 'node',
    target: 'node24',
    outDir,
    clean: true,
    splitting: false,
    sourcemap: true,
    noExternal: [/.*/],
    outExtension: () => ({ js: '.js' }),
    banner: {
      js: "import { createRequire as __keikoCreateRequire } from 'node:module'; const require = __keikoCreateRequire(import.meta.url);",
    },
  };
}

/** A library package's build: its ESM entry points, dependencies left as imports (apps bundle them). */
export function libraryOptions(entry: string[] = ['src/index.ts']): Options {
  return { entry, format: ['esm'], platform: 'node', target: 'node24', outDir: 'dist', clean: true };
}
