import { describe, expect, it } from "vitest"
import { ConnectError, describeError, describeForCli, ListenError, listenerClosed, TransportError } from "../src/domain/errors.js"

// The sentences a person reads at the end of a failed run, for what the CLI's process tests take long to reach.
describe("the sentence for an error (errors.ts)", () => {
  it("a target tried for a while says for how long, and the CLI what sets it; one attempt says no time", () => {
    const refused = { host: "127.0.0.1", port: 9, reason: "Refused", detail: "ECONNREFUSED" } as const
    expect(describeForCli(new ConnectError(refused))).toBe("Could not reach 127.0.0.1:9: nobody is listening there (connection refused).")
    expect(describeForCli(new ConnectError({ ...refused, triedFor: "10 s" }))).toBe(
      "Could not reach 127.0.0.1:9 in 10 s of trying (--wait): nobody is listening there (connection refused)."
    )
    expect(describeForCli(new ConnectError({ ...refused, host: "::1", reason: "Timeout", detail: "5 s", triedFor: "1.5 s" }))).toBe(
      "Could not reach [::1]:9 in 1.5 s of trying (--wait): no answer within 5 s."
    )
    // a failure no sentence was written for says node's own words, after where and for how long
    expect(describeForCli(new ConnectError({ ...refused, reason: "Other", detail: "connect EPERM 127.0.0.1:9", triedFor: "2 s" }))).toBe(
      "Could not reach 127.0.0.1:9 in 2 s of trying (--wait): connect EPERM 127.0.0.1:9."
    )
    // a name says the addresses it was tried at, before for how long; none known, nothing added
    expect(describeForCli(new ConnectError({ ...refused, host: "localhost", addresses: ["::1", "127.0.0.1"], triedFor: "10 s" }))).toBe(
      "Could not reach localhost:9 (::1, 127.0.0.1) in 10 s of trying (--wait): nobody is listening there (connection refused)."
    )
    expect(describeForCli(new ConnectError({ ...refused, host: "localhost", addresses: [] }))).toBe(
      "Could not reach localhost:9: nobody is listening there (connection refused)."
    )
    // a library's caller set `connectFor`, not a flag: its sentence, and the error's message, name none
    const library = "Could not reach localhost:9 (::1, 127.0.0.1) in 10 s of trying: nobody is listening there (connection refused)."
    const tried = new ConnectError({ ...refused, host: "localhost", addresses: ["::1", "127.0.0.1"], triedFor: "10 s" })
    expect(describeError(tried)).toBe(library)
    expect(tried.message).toBe(library)
    expect(describeError(new ConnectError(refused))).toBe(describeForCli(new ConnectError(refused)))
  })

  it("a handshake out of time says how long it had and how to give more: the CLI by its flag, the library by none", () => {
    const slow = new TransportError({ reason: "Timeout", detail: "the peer did not complete the handshake in time", handshakeLimit: "1 s" })
    expect(describeForCli(slow)).toBe(
      "The connection went silent: the peer did not complete the handshake in time (1 s; over a slow link, allow more with --handshake-timeout)."
    )
    expect(describeError(slow)).toBe(
      "The connection went silent: the peer did not complete the handshake in time (1 s; over a slow link, allow the handshake more time)."
    )
    expect(slow.message).toBe(describeError(slow))
    // any other silence has no limit to raise
    const gone = new TransportError({ reason: "Timeout", detail: "TCP keep-alive found the peer gone" })
    expect(describeForCli(gone)).toBe("The connection went silent: TCP keep-alive found the peer gone.")
    expect(describeError(gone)).toBe(describeForCli(gone))
  })

  it("an accept on a closed listener says so; an end of the connection still reads as the other side's", () => {
    expect(describeError(listenerClosed())).toBe("The listener is closed: it takes no more connections.")
    expect(describeError(new TransportError({ reason: "Eof", detail: "end of stream" }))).toBe("The connection was closed by the other side.")
  })

  it("a port that cannot be listened on: the library says why, the CLI adds the flag that changes it", () => {
    const at = { host: "192.0.2.1", port: 8000 }
    const inUse = new ListenError({ ...at, reason: "AddressInUse", detail: "EADDRINUSE" })
    const notHere = new ListenError({ ...at, reason: "AddressNotAvailable", detail: "EADDRNOTAVAIL" })
    const denied = new ListenError({ ...at, port: 80, reason: "Permission", detail: "EACCES" })
    expect(describeError(notHere)).toBe("Cannot listen on 192.0.2.1:8000: that address does not belong to this machine.")
    expect(describeForCli(inUse)).toBe("Cannot listen on 192.0.2.1:8000: the port is already in use; pick another with -p.")
    expect(describeForCli(notHere)).toBe("Cannot listen on 192.0.2.1:8000: that address does not belong to this machine; pick one with -i.")
    // a name that is no interface, and no name of this machine's (ENOTFOUND, or EADDRNOTAVAIL for another's)
    const noInterface = new ListenError({ host: "wlan0", port: 8000, reason: "AddressNotAvailable", detail: "ENOTFOUND" })
    expect(describeForCli(noInterface)).toBe(
      "Cannot listen on wlan0:8000: wlan0 is neither a network interface of this machine nor a name for one of its addresses; pick one with -i."
    )
    const linkLocal = new ListenError({ host: "fe80::99%eth0", port: 8000, reason: "AddressNotAvailable", detail: "EADDRNOTAVAIL" })
    expect(describeError(linkLocal)).toBe("Cannot listen on [fe80::99%eth0]:8000: that address does not belong to this machine.")
    // no flag helps here: the sentence as it is
    expect(describeForCli(denied)).toBe(describeError(denied))
    expect(describeForCli(denied)).toBe("Cannot listen on 192.0.2.1:80: permission denied (ports below 1024 need privileges).")
    const unforeseen = new ListenError({ ...at, reason: "Other", detail: "listen EMFILE: too many open files" })
    expect(describeForCli(unforeseen)).toBe("Cannot listen on 192.0.2.1:8000: listen EMFILE: too many open files.")
    const other = new ConnectError({ ...at, reason: "Refused", detail: "ECONNREFUSED" })
    expect(describeForCli(other)).toBe(describeError(other))
  })
})
