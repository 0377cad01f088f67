/**
 * Whether a request's peer is one of `server.trusted_proxies`: Fastify (trustProxy) then believes its
 * X-Forwarded-* headers for req.ip, req.protocol and req.host, and the loopback Host check steps aside, because a
 * proxy forwards the public name the browser used, and which names it answers to is then the proxy's to decide.
 */
import { BlockList, isIP } from 'node:net';

export function trustedPeerMatcher(entries: readonly string[]): (address: string | undefined) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (address) => {
    if (!address) return false;
    // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d.
    const plain = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;
    return list.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
  };
}
