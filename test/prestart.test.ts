import { afterEach, describe, expect, it } from "vitest"
import { mayListen, prestartKeygen, takePrestartedKey } from "../src/cli/prestart.js"

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

// The launcher (launch.ts) and the CLI's bundle are two bundles, each with its own copy of prestart.ts: the key
// the launcher started is handed over in a global slot, and the bundle's bootstrap must not start another.
describe("the pre-started key, handed from the launcher to the bundle", () => {
  const SLOT = Symbol.for("p2pchat/prestartedKey")
  const slots = globalThis as { [SLOT]?: unknown }
  afterEach(() => {
    delete slots[SLOT]
  })

  it("a key already started (by the launcher's copy) is the one taken: none other is started", () => {
    const launchers = Promise.resolve({ privateKey: "launcher's", publicKey: "launcher's" })
    slots[SLOT] = launchers
    prestartKeygen(["-m", "2"])
    expect(takePrestartedKey()).toBe(launchers)
    expect(takePrestartedKey()).toBeUndefined()
  })

  it("with none started, a run that may listen starts one, handed out once", async () => {
    prestartKeygen(["-t", "127.0.0.1"])
    const key = takePrestartedKey()
    expect(takePrestartedKey()).toBeUndefined()
    const pair = await key
    expect(pair?.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    expect(pair?.publicKey).toMatch(/^-----BEGIN PUBLIC KEY-----/)
  })

  it("a client starts none", () => {
    prestartKeygen(["-m", "1", "-t", "127.0.0.1"])
    expect(takePrestartedKey()).toBeUndefined()
  })
})
