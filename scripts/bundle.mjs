// One-file ESM bundles for Node 20: start-up then costs one module load instead of hundreds (about half the
// time of the unbundled module graph on a 2-core machine), and only what the entry uses is loaded.
import { build } from "esbuild"

/**
 * Packages imported but never run, each with the names imported from it: the bundle gets, in place of each, a
 * module whose every name throws if called (and esbuild warns of a name not listed here).
 */
const leftOut = (packages) => ({
  name: "left-out",
  setup(build) {
    const names = Object.keys(packages)
    if (names.length === 0) return
    const filter = new RegExp(`^(${names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})$`)
    build.onResolve({ filter }, (args) => ({ path: args.path, namespace: "left-out" }))
    build.onLoad({ filter: /.*/, namespace: "left-out" }, (args) => ({
      contents: [
        `const leftOut = () => { throw new Error(${JSON.stringify(`${args.path} is not in this bundle`)}) }`,
        ...packages[args.path].map((name) => `export const ${name} = leftOut`)
      ].join("\n"),
      loader: "js"
    }))
  }
})

/**
 * A CommonJS bundle as the function node's loader would wrap it in (`Module.wrap`'s parameters), written
 * into the file: the CLI's launcher compiles it as it is, for V8's code cache (src/cli/codeCache.ts), where
 * wrapping it at every start made V8 copy the whole source once more (with 1.7 MB of it, a listening CLI took
 * about 1,000 page faults, 3.7 MB and 13 ms more). Run by node itself (`node dist/p2pchat.cjs`), where `module`
 * is defined, it calls itself.
 */
const CJS_WRAPPER = {
  js: "(typeof module == 'object' ? (f) => f.call(module.exports, exports, require, module, __filename, __dirname) : (f) => f)((function (exports, require, module, __filename, __dirname) {",
  end: "\n}));"
}

/**
 * Bundles `entry` into `outfile`, an ES module, or CommonJS with `format: "cjs"` (the CLI's, for V8's code
 * cache, in CJS_WRAPPER). node-forge is CommonJS and requires node built-ins at run time: an ES module
 * bundle gets a `require` for it. `leaveOut` names packages imported but never run (see `leftOut`).
 * `shortNames` shortens local names: a stack trace then needs the source map, which keeps the names.
 */
export const bundle = (entry, outfile, { shebang = false, sourcemap = false, format = "esm", leaveOut = {}, shortNames = false } = {}) =>
  build({
    plugins: [leftOut(leaveOut)],
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format,
    target: "node20",
    minifySyntax: true,
    // no comments or indentation: the source stays in the heap as a string for the life of the process, and
    // the comments' few non-ASCII characters made all of it two bytes a character (4 MB, now 1.5)
    minifyWhitespace: true,
    // the CLI's: shortened local names took it from 1.7 MB to 1.0, read and kept at every start
    minifyIdentifiers: shortNames,
    treeShaking: true,
    ...(sourcemap ? { sourcemap: "linked", legalComments: "linked" } : {}),
    banner: {
      js:
        (shebang ? "#!/usr/bin/env node\n" : "") +
        (format === "esm"
          ? "import { createRequire as __p2pchatCreateRequire } from 'node:module';\nconst require = __p2pchatCreateRequire(import.meta.url);"
          : CJS_WRAPPER.js)
    },
    ...(format === "esm" ? {} : { footer: { js: CJS_WRAPPER.end } }),
    logLevel: "warning"
  })
