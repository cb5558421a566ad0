import t from 'tap'
import { NO_AUDIT } from '../../src/audit.js'
import { deviceAuthorizations } from '../../src/authorization/device.js'
import { OAuthError } from '../../src/errors.js'
import { deviceCodeGrant } from '../../src/grants/device-code.js'
import { Params } from '../../src/oauth/params.js'
import type { AuthorizationCode, AuthorizationCodeRepository } from '../../src/storage/authorization-codes.js'
import type { Client } from '../../src/storage/clients.js'
import type { DeviceAuthorization, DeviceAuthorizationRepository } from '../../src/storage/device-authorizations.js'
import type { FailureCounterRepository } from '../../src/storage/failure-counters.js'
import type { TokenResponses } from '../../src/tokens/token-response.js'
import { FakeClock } from '../helpers/clock.js'

// The races a test through HTTP cannot order: stand-ins play the repository's side of them.
const clock = new FakeClock()
const client = { id: 'c1' } as Client
const approved: DeviceAuthorization = {
  id: 'd1', deviceCodeHash: 'h', userCodeHash: 'u', clientId: 'c1', scopes: ['openid'], resource: 'https://api.example.com', status: 'approved',
  userId: 'u1', authTime: 0, amr: ['pwd'], codeId: 'code1', intervalSeconds: 5, lastPolledAt: null, address: '192.0.2.1', createdAt: clock.now(),
  expiresAt: clock.now() + 600_000, redeemedAt: null,
}
const code = { id: 'code1', usedAt: null } as AuthorizationCode
const request = { params: new Params({ device_code: 'x' }), audit: NO_AUDIT, grantType: 'urn:ietf:params:oauth:grant-type:device_code', ip: '192.0.2.1' }

function grant(found: { code?: AuthorizationCode | undefined; exchanged?: Awaited<ReturnType<TokenResponses['exchangeCode']>>; device?: DeviceAuthorization; revoked?: string[] }) {
  return deviceCodeGrant({
    devices: { findByDeviceCodeHash: async () => found.device ?? approved } as unknown as DeviceAuthorizationRepository,
    codes: { findById: async () => found.code, revokeIssuedFrom: async (id: string) => void found.revoked?.push(id) } as unknown as AuthorizationCodeRepository,
    tokens: { exchangeCode: async () => found.exchanged } as unknown as TokenResponses,
    clock,
    requirements: { isMetBy: async () => true },
  })
}

t.test('approved, but the code a concurrent poll claimed is invalid_grant, and a replay: what it yielded is revoked', async (t) => {
  const revoked: string[] = []
  await t.rejects(grant({ code: { ...code, usedAt: clock.now() }, revoked }).handle(request, client), new OAuthError('invalid_grant', 'the device code has already been used'))
  await t.rejects(grant({ code, exchanged: undefined, revoked }).handle(request, client), new OAuthError('invalid_grant', 'the device code has already been used'))
  t.same(revoked, ['code1', 'code1'])
})

t.test('a redeemed device code whose approval no longer names a code: invalid_grant, nothing to revoke', async (t) => {
  const revoked: string[] = []
  const device = { ...approved, codeId: null, redeemedAt: clock.now() }
  await t.rejects(grant({ device, revoked }).handle(request, client), new OAuthError('invalid_grant', 'the device code has already been used'))
  t.same(revoked, [])
})

t.test('approved, but the code is gone or its user inactive: invalid_grant', async (t) => {
  await t.rejects(grant({ code: undefined }).handle(request, client), new OAuthError('invalid_grant', 'the authorization is no longer valid'))
  await t.rejects(grant({ code, exchanged: 'userInactive' }).handle(request, client), new OAuthError('invalid_grant', 'the authorization is no longer valid'))
})

t.test('start draws another user code when one is taken, and gives up after five', async (t) => {
  let attempts = 0
  const devices = deviceAuthorizations({
    devices: {
      countOpen: async () => ({ count: 0, firstExpiresAt: null }),
      create: async () => ++attempts > 2,
    } as unknown as DeviceAuthorizationRepository,
    counters: {} as FailureCounterRepository,
    clock,
  })
  const started = await devices.start({ clientId: 'c1', scopes: [], resource: 'https://api.example.com', clientAddress: '192.0.2.1' })
  t.equal(attempts, 3, 'a third draw')
  t.notOk('refused' in started)
  const full = deviceAuthorizations({
    devices: { countOpen: async () => ({ count: 0, firstExpiresAt: null }), create: async () => false } as unknown as DeviceAuthorizationRepository,
    counters: {} as FailureCounterRepository,
    clock,
  })
  await t.rejects(full.start({ clientId: 'c1', scopes: [], resource: 'https://api.example.com', clientAddress: '192.0.2.1' }), /no free user code after 5 draws/)
})

t.test('an approval of a device authorization gone since (its client removed) approves nothing', async (t) => {
  const devices = deviceAuthorizations({
    devices: { findById: async () => undefined } as unknown as DeviceAuthorizationRepository,
    counters: {} as FailureCounterRepository,
    clock,
  })
  t.equal(await devices.approve('gone', { userId: 'u1', authTime: 0, amr: ['pwd'], verificationUri: 'http://localhost:3000/device' }), false)
})
