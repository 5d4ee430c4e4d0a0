// The CLI's entry point. Starting the certificate's key generation comes first; everything else loads after.
import { prestartKeygen } from "./cli/prestart.js"

prestartKeygen(process.argv.slice(2))
await import("./main.js")
