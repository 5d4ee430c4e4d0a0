import { describe, expect, it } from "vitest"
import { mayListen } from "../src/cli/prestart.js"

// The certificate's RSA key is started before the program loads, from the raw arguments: only for a run
// that may listen and has no key file. (cli-session.test.ts counts the key pairs of a real `-m 1` client.)
describe("which runs start making the certificate's key at once (prestart.ts)", () => {
  it.each([
    [[], true],
    [["-t", "127.0.0.1"], true],
    [["-m", "0", "-t", "127.0.0.1"], true],
    [["-m", "2"], true],
    [["--mode=2"], true],
    [["-m", "10"], true],
    // a target or a port of 1 is not client mode
    [["-t", "1", "-p", "1"], true],
    [["-m", "1", "-t", "127.0.0.1"], false],
    [["--mode", "1"], false],
    // the forms the flags read as client mode too: a client started so made a key it never used
    [["--mode=1"], false],
    [["-m", "01"], false],
    [["-k", "key.pem", "-c", "cert.pem"], false],
    [["--key", "key.pem", "--cert", "cert.pem"], false],
    [["--key=key.pem", "--cert=cert.pem"], false],
    [["--help"], false],
    [["-h"], false],
    [["--version"], false]
  ] as const)("%j: %s", (argv, listens) => {
    expect(mayListen(argv)).toBe(listens)
  })
})
