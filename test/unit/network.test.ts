import t from 'tap'
import { clientNetwork } from '../../src/network.js'

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
