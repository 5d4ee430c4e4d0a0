import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as vm from "node:vm"

/**
 * The CLI's start-up with V8's code cache. Compiling the 2 MB bundle (parsing it, then making bytecode for
 * each function the start runs) took about 100 of the 270 ms from process start to listening; V8 reads the
 * same bytecode back from a cache made at build time (`npm run build` runs a listener and saves what it
 * compiled) in a fraction of that. Node 20 offers this for CommonJS only (`vm.Script`'s `cachedData`; ES
 * modules get no cache before Node 22), hence a CommonJS bundle started from here.
 *
 * The bundle's file is already the function node's loader would wrap a CommonJS file in (scripts/bundle.mjs):
 * compiled as it is read, rather than wrapped here, V8 holds one copy of its source, not two.
 *
 * The cache holds bytecode and the source's constants only, nothing a run computed (no key, no address).
 * V8 checks it against its own version, its flags and the source's length, and compiles as usual when it does
 * not match (another Node, a node started with V8 flags, a cache from another build) or is missing.
 */
export interface CompiledBundle {
  readonly script: vm.Script
  /** V8 took the cache: false when there was none, or V8 refused it. */
  readonly cacheUsed: boolean
}

/** The bundle at `bundlePath` compiled, with the cache at `cachePath` if any: a script whose value is its module function. */
export const compileBundle = (bundlePath: string, cachePath: string): CompiledBundle => {
  const source = fs.readFileSync(bundlePath, "utf8")
  let cachedData: Buffer | undefined
  try {
    cachedData = fs.readFileSync(cachePath)
  } catch {
    // no cache: compiled from source, as `node p2pchat.cjs` would
  }
  const script = new vm.Script(source, { filename: bundlePath, ...(cachedData === undefined ? {} : { cachedData }) })
  return { script, cacheUsed: cachedData !== undefined && script.cachedDataRejected === false }
}

/** Runs a compiled bundle as the CommonJS module at `bundlePath` (its `require` resolves from there). */
export const runBundle = (compiled: CompiledBundle, bundlePath: string): void => {
  const wrapper = compiled.script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: { exports: unknown },
    filename: string,
    dirname: string
  ) => void
  const module = { exports: {} }
  wrapper.call(module.exports, module.exports, createRequire(bundlePath), module, bundlePath, path.dirname(bundlePath))
}
