// One-file ESM bundles for Node 20: start-up then costs one module load instead of hundreds (about half the
// time of the unbundled module graph on a 2-core machine), and only what the entry uses is loaded.
import { build } from "esbuild"

/** Bundles `entry` into `outfile`. node-forge is CommonJS and requires node built-ins at run time. */
export const bundle = (entry, outfile, { shebang = false, sourcemap = false } = {}) =>
  build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    minifySyntax: true,
    // no comments or indentation: the source stays in the heap as a string for the life of the process, and
    // the comments' few non-ASCII characters made all of it two bytes a character (4 MB, now 1.5)
    minifyWhitespace: true,
    treeShaking: true,
    ...(sourcemap ? { sourcemap: "linked", legalComments: "linked" } : {}),
    banner: {
      js:
        (shebang ? "#!/usr/bin/env node\n" : "") +
        "import { createRequire as __p2pchatCreateRequire } from 'node:module';\nconst require = __p2pchatCreateRequire(import.meta.url);"
    },
    logLevel: "warning"
  })
