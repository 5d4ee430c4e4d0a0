// Bundles the CLI into one file (scripts/bundle.mjs says why).
import { chmodSync } from "node:fs"
import { bundle } from "./bundle.mjs"

await bundle("src/bootstrap.ts", "dist/p2pchat.mjs", { shebang: true, sourcemap: true })
chmodSync("dist/p2pchat.mjs", 0o755)
