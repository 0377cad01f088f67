/**
 * Host names fleetmon makes up from outside text (this machine's hostname, an address, a container's hostname):
 * the characters hosts.yml accepts in a `name` (letters, digits, `.`, `_`, `-`, starting with a letter or digit).
 */

/** `text` with every other character replaced by `-` and leading punctuation dropped; `fallback` when nothing is left. */
export function cleanHostName(text: string, fallback: string): string {
  return text.trim().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || fallback;
}
