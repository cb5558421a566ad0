import t from 'tap'
import { groupSecret } from '../../src/routes/sign-in/second-step.js'

t.test('an enrolment key is shown in groups of four, with no space at either end', async (t) => {
  t.equal(groupSecret('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'), 'ABCD EFGH IJKL MNOP QRST UVWX YZ23 4567')
  t.equal(groupSecret('ABCDEF'), 'ABCD EF')
  t.equal(groupSecret('ABCD'), 'ABCD')
  t.equal(groupSecret(''), '')
})
