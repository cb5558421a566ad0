import { isIPv6 } from 'node:net'

/** What an address is counted as: an IPv4 address as it is, an IPv6 address as its /64. */
export function clientNetwork(ip: string): string {
  if (!isIPv6(ip)) return ip
  // WHATWG URL parsing canonicalises IPv6 to hex groups, embedded IPv4 included; drop any zone.
  const canonical = new URL(`http://[${ip.split('%')[0] ?? ''}]`).hostname.slice(1, -1)
  const [head = '', tail] = canonical.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right].map((g) => parseInt(g, 16))
  // A dual-stack listener sees IPv4 callers as ::ffff:a.b.c.d; count them as IPv4.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6)
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.')
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`
}
