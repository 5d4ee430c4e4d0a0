import { execFileSync } from "node:child_process"
import { describe, expect, it } from "vitest"

describe("the npm package", () => {
  it("holds what a user runs and imports, and neither the bench's peer nor the 12 MB source map", () => {
    // an install took 18 MB for p2pchat alone: 12 of them the map of the bundled dependencies, 1.5 the bench peer
    const [packed] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { encoding: "utf8" })) as Array<{
      files: Array<{ path: string }>
      unpackedSize: number
    }>
    const paths = packed!.files.map((f) => f.path)
    for (const needed of ["dist/p2pchat.mjs", "dist/lib/index.js", "dist/lib/index.d.ts", "README.md", "docs/PROTOCOL.md", "package.json"])
      expect(paths).toContain(needed)
    // the library's own maps (dist/lib, into the shipped src/) stay: they take an editor to the source
    expect(paths.filter((p) => /^dist\/[^/]+\.map$/.test(p) || p.includes("bench"))).toEqual([])
    expect(packed!.unpackedSize).toBeLessThan(6 * 1024 * 1024)
  })
})
