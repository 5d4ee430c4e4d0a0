import { Context, type Effect } from "effect"
import type { CertificateError } from "../domain/errors.js"

/** The listener's TLS identity: PEM private key and certificate. */
export interface TlsIdentity {
  readonly keyPem: string
  readonly certPem: string
  /** SHA-256 of the certificate's DER, hex: shown so users can tell a generated certificate from a file. */
  readonly fingerprint: string
}

/**
 * Provides the listener's certificate: loaded from `-k/-c` or made at start-up. TLS only hides traffic from
 * passive observers here; the peer's identity is settled end to end (fingerprints, SAS), never by TLS.
 */
export class Certificate extends Context.Tag("p2pchat/Certificate")<
  Certificate,
  { readonly identity: Effect.Effect<TlsIdentity, CertificateError> }
>() {}
