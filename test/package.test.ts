import { execFileSync, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as tls from "node:tls"
import { describe, expect, it } from "vitest"
import { CLI } from "./support/cli.js"

const root = path.resolve(import.meta.dirname, "..")
const dist = path.dirname(CLI)
/** The command, the bundle it starts and the bundle's code cache. */
const CLI_FILES = ["p2pchat.mjs", "p2pchat.cjs", "p2pchat.cache"]
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { dependencies: Record<string, string> }
/** The source map of the CLI's bundle: the modules in it, and the names its shortened ones stand for. */
const bundleMap = () => JSON.parse(fs.readFileSync(path.join(dist, "p2pchat.cjs.map"), "utf8")) as { sources: Array<string>; names: Array<string> }
const packed = () => {
  const [result] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8" })) as Array<{
    files: Array<{ path: string }>
    unpackedSize: number
  }>
  return result!
}

describe("the npm package", () => {
  it("holds what a user runs and imports, and neither the bench's peer nor the 12 MB source map", () => {
    // an install took 18 MB for p2pchat alone: 12 of them the map of the bundled dependencies, 1.5 the bench peer
    const { files, unpackedSize } = packed()
    const paths = files.map((f) => f.path)
    for (const needed of [...CLI_FILES.map((f) => `dist/${f}`), "dist/lib/index.js", "dist/lib/index.d.ts", "README.md", "docs/PROTOCOL.md", "package.json"])
      expect(paths).toContain(needed)
    // the library's own maps (dist/lib, into the shipped src/) stay: they take an editor to the source
    expect(paths.filter((p) => /^dist\/[^/]+\.map$/.test(p) || p.includes("bench"))).toEqual([])
    // the CLI's bundle 951 KB, its code cache 2.0 MB
    expect(unpackedSize).toBeLessThan(7 * 1024 * 1024)
  })

  it("carries of node-forge only what a certificate needs, not all of forge that its index loads", () => {
    // importing "node-forge" put its TLS, PKCS#7 and #12, SSH, ed25519 ... into the bundles: 150 KB of the CLI's
    // 2.2 MB, loaded and run at every start (about 3 MB of RSS)
    // the bundle's map names what is in it (the bundle itself no longer names its modules)
    const map = bundleMap()
    const modules = new Set(map.sources.flatMap((s) => /node_modules\/node-forge\/lib\/\w+\.js$/.exec(s) ?? []))
    expect(modules).toContain("node_modules/node-forge/lib/x509.js")
    for (const unused of ["index", "tls", "pkcs7", "pkcs12", "ssh", "ed25519", "pbe"]) expect(modules).not.toContain(`node_modules/node-forge/lib/${unused}.js`)
  })

  it("leaves out of the CLI's bundle the file parsers and fast-check, which it imports and never runs", () => {
    // 315 of its 820 modules, 350 KB of its 2 MB, loaded at every start; the bundle's map names what is in it
    const map = bundleMap()
    const inBundle = (pkg: string) => map.sources.filter((s) => s.includes(`node_modules/${pkg}/`))
    expect(inBundle("effect").length).toBeGreaterThan(100)
    for (const pkg of ["yaml", "toml", "ini", "fast-check", "pure-rand"]) expect(inBundle(pkg)).toEqual([])
    expect(map.sources.filter((s) => s.startsWith("left-out:")).sort()).toEqual(["left-out:fast-check", "left-out:ini", "left-out:toml", "left-out:yaml"])
  })

  it("has a CLI bundle of ASCII alone, which V8 keeps as one byte a character", () => {
    // the process keeps the bundle's source as a string: one character beyond ASCII (two folding rules'
    // CJK punctuation, until round fifty-two) made all 2 MB of it two bytes a character, read at every start
    const bytes = fs.readFileSync(path.join(dist, "p2pchat.cjs"))
    const first = bytes.findIndex((b) => b > 0x7f)
    expect(first === -1 ? "" : bytes.subarray(Math.max(0, first - 60), first + 20).toString("utf8")).toBe("")
  })

  it("has a CLI bundle with its local names shortened: 1 MB read and kept at every start, not 1.7", () => {
    const bundle = fs.readFileSync(path.join(dist, "p2pchat.cjs"), "utf8")
    expect(bundle.length).toBeLessThan(1.3 * 1024 * 1024)
    // the map keeps the names a stack trace needs, which the bundle no longer holds
    const map = bundleMap()
    for (const name of ["prestartKeygen", "makeTerminalView"]) {
      expect(map.names).toContain(name)
      expect(bundle).not.toContain(name)
    }
  })

  it("installs only what the library imports: the CLI is its bundle that runs with no node_modules at all", () => {
    // @effect/cli, @effect/platform-node and the rest were installed with the package (109 MB in all) though
    // only the CLI's bundle uses them, and it carries them inside
    const alone = fs.mkdtempSync(path.join(os.tmpdir(), "p2pchat-alone-"))
    try {
      for (const f of CLI_FILES) fs.copyFileSync(path.join(dist, f), path.join(alone, f))
      const help = execFileSync(process.execPath, [path.join(alone, "p2pchat.mjs"), "--help"], { cwd: alone, encoding: "utf8" })
      expect(help).toMatch(/^p2pchat \d+\.\d+\.\d+: /)
    } finally {
      fs.rmSync(alone, { recursive: true, force: true })
    }
    // the command without its bundle (an install cut short) says so in a sentence, not node's stack trace
    const cut = fs.mkdtempSync(path.join(os.tmpdir(), "p2pchat-cut-"))
    try {
      fs.copyFileSync(CLI, path.join(cut, "p2pchat.mjs"))
      const run = spawnSync(process.execPath, [path.join(cut, "p2pchat.mjs"), "--version"], { encoding: "utf8" })
      expect(run.status).toBe(1)
      expect(run.stderr).toBe(`p2pchat: ${path.join(cut, "p2pchat.cjs")} is missing; build it with npm run build.\n`)
    } finally {
      fs.rmSync(cut, { recursive: true, force: true })
    }
    const imported = new Set<string>()
    for (const file of packed().files.map((f) => f.path).filter((p) => p.startsWith("dist/lib/") && p.endsWith(".js")))
      for (const [, stat, dynamic] of fs.readFileSync(path.join(root, file), "utf8").matchAll(/^(?:import|export) [^;]*?from "([^"]+)"|\bimport\("([^"]+)"\)/gm))
        for (const spec of [stat, dynamic])
          if (spec !== undefined && !spec.startsWith(".") && !spec.startsWith("node:"))
            imported.add(spec.split("/").slice(0, spec.startsWith("@") ? 2 : 1).join("/"))
    expect([...imported].sort()).toEqual(Object.keys(pkg.dependencies).sort())
  })

  describe("the CLI's code cache (src/cli/codeCache.ts)", () => {
    // in a node of its own: V8 takes a cache only from a process started with the same V8 flags as the build's
    const cacheUsed = (cache: string, bundle = path.join(dist, "p2pchat.cjs")) =>
      execFileSync(
        process.execPath,
        [
          "--input-type=module",
          "-e",
          `import { compileBundle } from ${JSON.stringify(path.join(dist, "lib/cli/codeCache.js"))}
           process.stdout.write(String(compileBundle(${JSON.stringify(bundle)}, ${JSON.stringify(cache)}).cacheUsed))`
        ],
        { encoding: "utf8" }
      )

    it("the bundle, which carries its own module wrapper for the launcher, runs by itself as node runs a CommonJS file", () => {
      const direct = spawnSync(process.execPath, [path.join(dist, "p2pchat.cjs"), "--help"], { encoding: "utf8" })
      expect([direct.status, direct.stderr]).toEqual([0, ""])
      expect(direct.stdout).toBe(execFileSync(process.execPath, [CLI, "--help"], { encoding: "utf8" }))
      expect(direct.stdout).toMatch(/^p2pchat \d+\.\d+\.\d+: /)
    })

    it("run by itself, the bundle starts its certificate's key before any of the CLI's modules load, and listens", async () => {
      // a preload that tells, as the key is asked for, whether effect (which the CLI proper loads) is there yet:
      // once loaded, it keeps its global values under globalThis["effect/GlobalValue"]
      const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "p2pchat-key-first-"))
      const preload = path.join(scratch, "watch-keygen.cjs")
      fs.writeFileSync(
        preload,
        `const crypto = require("node:crypto"); const generate = crypto.generateKeyPair;
         crypto.generateKeyPair = function (...args) {
           const effect = Reflect.ownKeys(globalThis).some((k) => String(k).startsWith("effect/"));
           process.stderr.write("key asked for, effect loaded: " + effect + "\\n");
           return generate.apply(this, args);
         };`
      )
      const child = spawn(process.execPath, ["--require", preload, path.join(dist, "p2pchat.cjs"), "--json", "-m", "2", "-i", "127.0.0.1", "-p", "0"], {
        stdio: ["pipe", "pipe", "pipe"]
      })
      let stderr = ""
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
      try {
        const port = await new Promise<number>((resolve, reject) => {
          let out = ""
          const timer = setTimeout(() => reject(new Error(`no listening line: ${out} ${stderr}`)), 10_000)
          child.stdout.on("data", (d: Buffer) => {
            out += d.toString()
            const listening = /"listening".*?"port":(\d+)/.exec(out)
            if (listening === null) return
            clearTimeout(timer)
            resolve(Number(listening[1]))
          })
        })
        const certificate = await new Promise<tls.PeerCertificate>((resolve, reject) => {
          const probe = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
            resolve(probe.getPeerCertificate())
            probe.destroy()
          })
          probe.once("error", reject)
        })
        expect(certificate.bits).toBe(2048)
        expect(stderr).toBe("key asked for, effect loaded: false\n")
      } finally {
        child.kill()
        fs.rmSync(scratch, { recursive: true, force: true })
      }
    })

    it("the build's is taken by V8 for the bundle beside it", () => {
      // a cache from another build (or none) costs the start-up about 100 ms: compiled from source instead
      expect(cacheUsed(path.join(dist, "p2pchat.cache"))).toBe("true")
    })

    it("one that does not fit (damaged, from another bundle, missing) is refused and the CLI runs as without it", () => {
      const alone = fs.mkdtempSync(path.join(os.tmpdir(), "p2pchat-cache-"))
      try {
        for (const f of CLI_FILES) fs.copyFileSync(path.join(dist, f), path.join(alone, f))
        const damaged = fs.readFileSync(path.join(alone, "p2pchat.cache"))
        damaged.fill(7, 0, 64)
        fs.writeFileSync(path.join(alone, "p2pchat.cache"), damaged)
        expect(cacheUsed(path.join(alone, "p2pchat.cache"))).toBe("false")
        expect(cacheUsed(path.join(alone, "none"))).toBe("false")
        // another build's bundle: the same but for one byte more
        fs.appendFileSync(path.join(alone, "p2pchat.cjs"), "\n")
        expect(cacheUsed(path.join(dist, "p2pchat.cache"), path.join(alone, "p2pchat.cjs"))).toBe("false")
        const version = execFileSync(process.execPath, [path.join(alone, "p2pchat.mjs"), "--version"], { encoding: "utf8" })
        expect(version.trim()).toMatch(/^\d+\.\d+\.\d+$/)
        fs.rmSync(path.join(alone, "p2pchat.cache"))
        expect(execFileSync(process.execPath, [path.join(alone, "p2pchat.mjs"), "--version"], { encoding: "utf8" })).toBe(version)
        // the build's variable for where to save a cache, set but empty (an export cleared so), saves nothing:
        // writing to "" ended every run with "p2pchat hit an internal error"
        const emptySaveTo = spawnSync(process.execPath, [path.join(alone, "p2pchat.mjs"), "--version"], {
          encoding: "utf8",
          env: { ...process.env, P2PCHAT_CODE_CACHE_OUT: "" }
        })
        expect([emptySaveTo.status, emptySaveTo.stdout, emptySaveTo.stderr]).toEqual([0, version, ""])
      } finally {
        fs.rmSync(alone, { recursive: true, force: true })
      }
    })
  })
})
