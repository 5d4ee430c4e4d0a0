import { afterAll } from "vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/**
 * A directory of the test file's own under the system's temporary one (`dir`), removed after its tests: `file`
 * writes `text` there as `name` and gives its path.
 */
export const scratchFiles = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = (name: string, text: string): string => {
    const at = path.join(dir, name)
    fs.writeFileSync(at, text)
    return at
  }
  return { dir, file }
}
