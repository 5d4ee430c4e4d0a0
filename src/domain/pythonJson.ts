/**
 * JSON text exactly as Python's `json.dumps` writes it with default arguments: ", " and ": " separators,
 * ensure_ascii (every non-ASCII UTF-16 unit as \uXXXX in lower-case hex, surrogate pairs kept as two
 * escapes), "/" not escaped. The seed protocol's peers accept any JSON, but matching byte for byte lets the
 * known-answer vectors check our frames exactly.
 */
const escapeString = (s: string): string => {
  let out = '"'
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    switch (c) {
      case 0x22:
        out += '\\"'
        break
      case 0x5c:
        out += "\\\\"
        break
      case 0x0a:
        out += "\\n"
        break
      case 0x0d:
        out += "\\r"
        break
      case 0x09:
        out += "\\t"
        break
      case 0x08:
        out += "\\b"
        break
      case 0x0c:
        out += "\\f"
        break
      default:
        // Python escapes everything outside space..tilde, DEL included
        out += c < 0x20 || c > 0x7e ? "\\u" + c.toString(16).padStart(4, "0") : s[i]
    }
  }
  return out + '"'
}

/** A flat object of strings, keys in insertion order. */
export const dumpsStringObject = (obj: Readonly<Record<string, string>>): string =>
  "{" +
  Object.entries(obj)
    .map(([k, v]) => `${escapeString(k)}: ${escapeString(v)}`)
    .join(", ") +
  "}"
