// The `p2pchat` command: starts the CLI's bundle (dist/p2pchat.cjs) with V8's code cache for it (see
// cli/codeCache.ts). Only node built-ins here: this file runs before anything else is loaded.
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { compileBundle, runBundle } from "./cli/codeCache.js"
import { prestartKeygen } from "./cli/prestart.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const bundle = path.join(here, "p2pchat.cjs")
if (!fs.existsSync(bundle)) {
  // an install or a build cut short: a sentence rather than node's stack trace
  process.stderr.write(`p2pchat: ${bundle} is missing; build it with npm run build.\n`)
  process.exit(1)
}
// before the bundle is read and compiled (about 60 ms of a slow VM's start-up): the key's prime search runs in
// the thread pool meanwhile
prestartKeygen(process.argv.slice(2))
const compiled = compileBundle(bundle, path.join(here, "p2pchat.cache"))
// `npm run build` makes the cache this way: a run that is told where to save what it compiled does so as it
// exits (bytecode only: see codeCache.ts)
const saveTo = process.env["P2PCHAT_CODE_CACHE_OUT"]
if (saveTo !== undefined && saveTo !== "") process.once("exit", () => fs.writeFileSync(saveTo, compiled.script.createCachedData()))
runBundle(compiled, bundle)
