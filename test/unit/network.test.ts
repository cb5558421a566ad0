import t from 'tap'
import { clientNetwork, wideNetworks } from '../../src/network.js'

t.test('an IPv4 address counts as itself, an IPv6 one as its /64', async (t) => {
  t.equal(clientNetwork('127.0.0.1'), '127.0.0.1')
  t.equal(clientNetwork('::ffff:127.0.0.1'), '127.0.0.1')
  t.equal(clientNetwork('::FFFF:7f00:1'), '127.0.0.1')
  t.equal(clientNetwork('::1'), '0:0:0:0::/64')
  t.equal(clientNetwork('::'), '0:0:0:0::/64')
  t.equal(clientNetwork('::ffff:0:1'), '0.0.0.1')
  t.equal(clientNetwork('::1:ffff:0:1'), '0:0:0:0::/64', 'not IPv4-mapped')
  t.equal(clientNetwork('2001:db8::1'), '2001:db8:0:0::/64')
  t.equal(clientNetwork('2001:0DB8:0000:0001:0:0:0:1'), '2001:db8:0:1::/64')
  t.equal(clientNetwork('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
  t.equal(clientNetwork('2001:db8:1::'), '2001:db8:1:0::/64')
  t.equal(clientNetwork('2001:db8:1:2::1.2.3.4'), '2001:db8:1:2::/64')
  t.equal(clientNetwork('fe80::1%eth0'), 'fe80:0:0:0::/64', 'the zone is dropped')
  t.equal(clientNetwork('not an address'), 'not an address', 'anything else as it is')
})

t.test('an IPv6 address also belongs to its /56 and /48; IPv4 to neither', async (t) => {
  t.same(wideNetworks('2001:db8:1:abcd::1'), { net56: '2001:db8:1:ab00::/56', net48: '2001:db8:1:0::/48' })
  t.same(wideNetworks('2001:db8:ffff:ffff:ffff::'), { net56: '2001:db8:ffff:ff00::/56', net48: '2001:db8:ffff:0::/48' })
  t.same(wideNetworks('2001:db8:1:00ff::1'), wideNetworks('2001:db8:1:0::2'), 'a /56 spans 256 /64s')
  t.not(wideNetworks('2001:db8:1:100::1')?.net56, wideNetworks('2001:db8:1:ff::1')?.net56)
  t.equal(wideNetworks('2001:db8:1:ffff::1')?.net48, wideNetworks('2001:db8:1::1')?.net48, 'a /48 spans 65,536 /64s')
  t.equal(wideNetworks('127.0.0.1'), undefined)
  t.equal(wideNetworks('::ffff:127.0.0.1'), undefined, 'IPv4-mapped is IPv4')
})
