// The CLI's bundle starts here (bundled as CommonJS for the code cache, where a top-level await cannot be:
// launch.ts). Starting the certificate's key generation comes first, where the launcher has not started it
// already; everything else loads after.
import { prestartKeygen } from "./cli/prestart.js"

prestartKeygen(process.argv.slice(2))
void import("./main.js")
