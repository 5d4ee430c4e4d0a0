// Imported first by bootstrap.ts, for its one effect: ES modules run in the order they are imported, so the
// certificate's key generation starts here before any module of the CLI proper is evaluated.
import { prestartKeygen } from "./prestart.js"

prestartKeygen(process.argv.slice(2))
