import { isIPv6 } from 'node:net'

/** An address parsed: IPv4 as written (an IPv4-mapped IPv6 address as its IPv4), IPv6 as its eight 16-bit groups. */
function parse(ip: string): { ipv4: string } | { groups: number[] } {
  if (!isIPv6(ip)) return { ipv4: ip }
  // WHATWG URL parsing canonicalises IPv6 to hex groups, embedded IPv4 included; drop any zone.
  const canonical = new URL(`http://[${ip.split('%')[0] ?? ''}]`).hostname.slice(1, -1)
  const [head = '', tail] = canonical.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right].map((g) => parseInt(g, 16))
  // A dual-stack listener sees IPv4 callers as ::ffff:a.b.c.d; count them as IPv4.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6)
    return { ipv4: [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.') }
  }
  return { groups }
}

/** An IPv6 prefix of `bits` (a multiple of 8, at most 64) in the form `2001:db8:1:ab00::/56`. */
function prefixOf(groups: readonly number[], bits: 48 | 56 | 64): string {
  // Each of the first four groups keeps its bits that fall within the prefix.
  const kept = groups.slice(0, 4).map((g, i) => g & (0xffff << (16 - Math.min(16, Math.max(0, bits - i * 16)))) & 0xffff)
  return `${kept.map((g) => g.toString(16)).join(':')}::/${bits}`
}

/**
 * What a client address is counted as by the limits on failures: an IPv4 address as it is, an
 * IPv6 address as its /64, which one subscriber usually holds whole, so stepping through it buys
 * nothing. The address is fastify's request.ip: the socket's peer, or with TRUST_PROXY the
 * client named by the trusted proxies' X-Forwarded-For.
 */
export function clientNetwork(ip: string): string {
  const address = parse(ip)
  return 'ipv4' in address ? address.ipv4 : prefixOf(address.groups, 64)
}

/**
 * The wider IPv6 networks an address belongs to, for limits that a holder of many /64s must not
 * multiply: its /56 (what many ISPs give a home) and its /48 (what a site, or anyone asking a
 * tunnel broker, gets for free: 65,536 /64s). None for IPv4.
 */
export function wideNetworks(ip: string): { net56: string; net48: string } | undefined {
  const address = parse(ip)
  return 'ipv4' in address ? undefined : { net56: prefixOf(address.groups, 56), net48: prefixOf(address.groups, 48) }
}
