import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { CLI } from "./support/cli.js"

const root = path.resolve(import.meta.dirname, "..")
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { dependencies: Record<string, string> }
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
    for (const needed of ["dist/p2pchat.mjs", "dist/lib/index.js", "dist/lib/index.d.ts", "README.md", "docs/PROTOCOL.md", "package.json"])
      expect(paths).toContain(needed)
    // the library's own maps (dist/lib, into the shipped src/) stay: they take an editor to the source
    expect(paths.filter((p) => /^dist\/[^/]+\.map$/.test(p) || p.includes("bench"))).toEqual([])
    expect(unpackedSize).toBeLessThan(6 * 1024 * 1024)
  })

  it("installs only what the library imports: the CLI is one file that runs with no node_modules at all", () => {
    // @effect/cli, @effect/platform-node and the rest were installed with the package (109 MB in all) though
    // only the CLI's bundle uses them, and it carries them inside
    const alone = fs.mkdtempSync(path.join(os.tmpdir(), "p2pchat-alone-"))
    try {
      fs.copyFileSync(CLI, path.join(alone, "p2pchat.mjs"))
      const help = execFileSync(process.execPath, [path.join(alone, "p2pchat.mjs"), "--help"], { cwd: alone, encoding: "utf8" })
      expect(help).toMatch(/^p2pchat \d+\.\d+\.\d+: /)
    } finally {
      fs.rmSync(alone, { recursive: true, force: true })
    }
    const imported = new Set<string>()
    for (const file of packed().files.map((f) => f.path).filter((p) => p.startsWith("dist/lib/") && p.endsWith(".js")))
      for (const [, stat, dynamic] of fs.readFileSync(path.join(root, file), "utf8").matchAll(/^(?:import|export) [^;]*?from "([^"]+)"|\bimport\("([^"]+)"\)/gm))
        for (const spec of [stat, dynamic])
          if (spec !== undefined && !spec.startsWith(".") && !spec.startsWith("node:"))
            imported.add(spec.split("/").slice(0, spec.startsWith("@") ? 2 : 1).join("/"))
    expect([...imported].sort()).toEqual(Object.keys(pkg.dependencies).sort())
  })
})
