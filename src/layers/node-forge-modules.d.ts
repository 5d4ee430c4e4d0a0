// node-forge's own modules, which its type declarations (for the package's index) do not cover. Each attaches
// its part to forge's one shared object and exports that part.
declare module "node-forge/lib/x509.js" {
  import type forge from "node-forge"
  /** getTBSCertificate is public in forge but missing from its type declarations. */
  const pki: typeof forge.pki & { getTBSCertificate(certificate: forge.pki.Certificate): forge.asn1.Asn1 }
  export default pki
}
declare module "node-forge/lib/asn1.js" {
  import type forge from "node-forge"
  const asn1: typeof forge.asn1
  export default asn1
}
