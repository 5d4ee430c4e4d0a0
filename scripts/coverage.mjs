// Which lines of src/ the test suite runs, counted in all three places src/ runs under `npm test`:
//   - the test processes (vitest's V8 coverage of src/);
//   - the built library (dist/lib), which library.test.ts and slow-subscriber.test.ts import by the package's
//     name: the same run covers it, mapped back to src/ through its source maps;
//   - the CLI's own processes, started by the process tests: each writes V8's coverage of its bundle
//     (NODE_V8_COVERAGE), mapped back to src/ through the bundle's source map.
// A CLI process that ends by a signal writes none (the tests' clean-up kills some; p2pchat raises Ctrl-C's,
// SIGTERM's and a hang-up's signal again to end by it), so what is said unrun may have run there; what is
// said run did run. The launcher (src/launch.ts, src/cli/codeCache.ts) runs outside the bundle measured.
//
//   node scripts/coverage.mjs [--quick] [--json] [--keep]
// --quick: two test files only, and only the total, to prove the tool works (CI); --json: one JSON object on
// stdout; --keep: the raw coverage is kept (its directory is said on stderr).
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const require = createRequire(path.join(root, "package.json"))
const libCoverage = require("istanbul-lib-coverage")
const { createSourceMapStore } = require("istanbul-lib-source-maps")
const v8ToIstanbul = require("v8-to-istanbul")

const quick = process.argv.includes("--quick")
const json = process.argv.includes("--json")
const keep = process.argv.includes("--keep")
const say = (line) => process.stderr.write(line + "\n")

const run = (command, args, env = {}) => {
  // stdout is the report's: what the build and the tests print goes to stderr
  const r = spawnSync(command, args, { cwd: root, stdio: ["ignore", 2, 2], env: { ...process.env, ...env } })
  if (r.status !== 0) throw new Failed(`${path.basename(command)} ${args.join(" ")} failed (exit ${r.status ?? r.signal})`)
}
class Failed extends Error {}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "p2pchat-coverage-"))
try {
  run("npm", ["run", "build", "--silent"])
  const rawDir = path.join(work, "v8")
  const reportDir = path.join(work, "vitest")
  run(
    process.execPath,
    [
      path.join(root, "node_modules/vitest/vitest.mjs"),
      "run",
      ...(quick ? ["test/errors.test.ts", "test/argv.test.ts"] : []),
      "--coverage.enabled",
      "--coverage.provider=v8",
      "--coverage.include=src/**",
      "--coverage.include=dist/lib/**/*.js",
      // the default exclusions leave dist/ out
      "--coverage.exclude=test/**",
      "--coverage.reporter=json",
      `--coverage.reportsDirectory=${reportDir}`,
      "--reporter=dot"
    ],
    { NODE_V8_COVERAGE: rawDir, NO_COLOR: "1" }
  )

  // 1. the test processes, and the built library mapped back to src/: kept apart, as their statements differ
  // (a block of the built code maps onto comment lines in between, which the source's statements leave out)
  const inProcess = JSON.parse(fs.readFileSync(path.join(reportDir, "coverage-final.json"), "utf8"))
  const libDir = path.join(root, "dist/lib") + path.sep
  const ofSource = libCoverage.createCoverageMap({})
  const ofLibrary = libCoverage.createCoverageMap({})
  for (const [file, data] of Object.entries(inProcess)) (file.startsWith(libDir) ? ofLibrary : ofSource).addFileCoverage(data)
  const store = createSourceMapStore()
  for (const file of ofLibrary.files()) if (fs.existsSync(file + ".map")) store.registerURL(file, file + ".map")
  const library = await store.transformCoverage(ofLibrary)

  // 2. the CLI's processes: the bundle runs as a vm.Script of the file as it is (for its code cache, see
  // src/cli/codeCache.ts), its module wrapper written into it, so V8's offsets are the file's
  const bundle = path.join(root, "dist/p2pchat.cjs")
  const bundleUrl = pathToFileURL(bundle).href
  const source = fs.readFileSync(bundle, "utf8")
  const sourcemap = JSON.parse(fs.readFileSync(bundle + ".map", "utf8"))
  const cli = libCoverage.createCoverageMap({})
  let cliRuns = 0
  // a process killed while V8 wrote its coverage leaves the file cut short (seen once in a full run): counted
  // apart and left out, like a process that wrote none
  let cliCutShort = 0
  for (const name of fs.existsSync(rawDir) ? fs.readdirSync(rawDir) : []) {
    const text = fs.readFileSync(path.join(rawDir, name), "utf8")
    if (!text.includes(bundle)) continue
    let written
    try {
      written = JSON.parse(text)
    } catch {
      cliCutShort++
      continue
    }
    for (const script of written.result ?? []) {
      if (script.url !== bundle && script.url !== bundleUrl) continue
      cliRuns++
      const converter = v8ToIstanbul(bundle, 0, { source, sourceMap: { sourcemap } })
      await converter.load()
      converter.applyCoverage(script.functions)
      cli.merge(converter.toIstanbul())
    }
  }

  // 3. by line: a line runs where a statement on it ran in any of the three
  const srcDir = path.join(root, "src") + path.sep
  const launcher = new Set(["launch.ts", path.join("cli", "codeCache.ts")].map((f) => path.join(srcDir, f)))
  const lines = (coverage) => {
    const byLine = new Map()
    const data = coverage.toJSON()
    for (const file of Object.keys(data)) {
      if (!file.startsWith(srcDir) || file.includes(`${path.sep}node_modules${path.sep}`)) continue
      const { statementMap, s } = data[file]
      const counts = byLine.get(file) ?? new Map()
      for (const [id, loc] of Object.entries(statementMap))
        for (let line = loc.start.line; line <= loc.end.line; line++) counts.set(line, Math.max(counts.get(line) ?? 0, s[id]))
      byLine.set(file, counts)
    }
    return byLine
  }
  const here = lines(ofSource)
  const elsewhere = [lines(library), lines(cli)]
  const files = [...new Set([here, ...elsewhere].flatMap((m) => [...m.keys()]))].filter((f) => !launcher.has(f)).sort()
  let total = 0
  const unrun = {}
  const sources = new Map()
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8").split("\n")
    sources.set(path.relative(root, file), text)
    // a file the test processes loaded is judged by their statements; one they never load (main.ts, the CLI's
    // modules) by the built code's. A line with only a comment is no statement, though a worker that never
    // ran the function around it may count it as one, unrun
    const universe = (
      here.get(file)?.size ? [...here.get(file).keys()] : [...new Set(elsewhere.flatMap((m) => [...(m.get(file)?.keys() ?? [])]))]
    ).filter((line) => !/^\s*(\/\/|\/\*|\*|$)/.test(text[line - 1] ?? ""))
    const notRun = universe.filter((line) => ![here, ...elsewhere].some((m) => m.get(file)?.get(line) > 0))
    total += universe.length
    if (notRun.length > 0) unrun[path.relative(root, file)] = notRun.sort((a, b) => a - b)
  }
  const unrunCount = Object.values(unrun).reduce((n, l) => n + l.length, 0)
  const report = { quick, cliRuns, cliCutShort, lines: total, unrun: unrunCount, files: unrun }
  if (json) process.stdout.write(JSON.stringify(report) + "\n")
  else {
    // two test files leave most lines unrun: a list of them says nothing
    if (!quick)
      for (const [file, notRun] of Object.entries(unrun)) {
        const text = sources.get(file)
        process.stdout.write(`${file}: ${notRun.length} line(s) not run\n`)
        for (const line of notRun) process.stdout.write(`  ${String(line).padStart(4)}  ${text[line - 1].trim().slice(0, 110)}\n`)
      }
    process.stdout.write(
      `${total - unrunCount} of ${total} lines of src/ ran (${(((total - unrunCount) / total) * 100).toFixed(1)} %), ` +
        `counting ${cliRuns} CLI process(es)` +
        (cliCutShort > 0 ? ` (and leaving out ${cliCutShort} whose coverage file was cut short)` : "") +
        `${quick ? "; --quick: two test files only" : ""}; the launcher is not counted.\n`
    )
  }
} catch (e) {
  if (!(e instanceof Failed)) throw e
  say(`coverage: ${e.message}; no coverage is reported for a failing suite.`)
  process.exitCode = 1
} finally {
  if (keep) say(`coverage: the raw coverage is kept in ${work}`)
  else fs.rmSync(work, { recursive: true, force: true })
}
