// The CLI's bundle starts here (bundled as CommonJS for the code cache, where a top-level await cannot be:
// launch.ts). Starting the certificate's key generation comes first, where the launcher has not started it
// already (cli/startKey.ts); everything else loads after. Both imports are static: a dynamic import of main.js
// made esbuild wrap every module it reaches in a lazy initialiser, each called at start.
import "./cli/startKey.js"
import "./main.js"
