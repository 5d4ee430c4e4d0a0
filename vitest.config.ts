import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // process tests spawn real CLIs; two cores on CI
    maxWorkers: 2,
    minWorkers: 1
  }
})
