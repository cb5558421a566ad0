import type { Clock } from '../clock.js'
import { OAuthError } from '../errors.js'
import { DEVICE_CODE_GRANT, SLOW_DOWN_STEP_S } from '../oauth/device-flow.js'
import { sha256Hex } from '../oauth/secrets.js'
import type { AuthorizationCodeRepository } from '../storage/authorization-codes.js'
import type { DeviceAuthorization, DeviceAuthorizationRepository } from '../storage/device-authorizations.js'
import type { TokenResponses } from '../tokens/token-response.js'
import type { GrantDefinition, GrantHandler, TokenRequest } from './grant.js'
import { SIGN_IN_TOO_WEAK, stillMeetsRequirement, type SignInRecheck } from './sign-in-recheck.js'

export interface DeviceCodeGrantDeps {
  devices: DeviceAuthorizationRepository
  codes: AuthorizationCodeRepository
  tokens: TokenResponses
  clock: Clock
  requirements: SignInRecheck
}

/**
 * RFC 8628 §3.5 while the user has not decided: slow_down to a poll sooner than the interval
 * after the last one (the interval then grows by 5 seconds), else authorization_pending. A
 * concurrent poll that recorded itself first makes this one too fast as well.
 */
async function pending(deps: DeviceCodeGrantDeps, device: DeviceAuthorization, now: number): Promise<never> {
  const tooSoon = device.lastPolledAt !== null && now - device.lastPolledAt < device.intervalSeconds * 1000
  if (tooSoon || !(await deps.devices.recordPoll(device.id, device.lastPolledAt, now))) {
    await deps.devices.slowDown(device.id, SLOW_DOWN_STEP_S, now)
    throw new OAuthError('slow_down', `polling too fast: wait at least ${device.intervalSeconds + SLOW_DOWN_STEP_S} seconds between requests`)
  }
  throw new OAuthError('authorization_pending', 'the user has not yet approved the request')
}

/**
 * RFC 9700 §4.2.4, as for a replayed authorization code: a device code already redeemed, presented
 * again by its own client (authenticated as /token requires; for a public client, holding the
 * 256-bit device code is the proof), revokes what the approval's code yielded (its refresh-token
 * family and access tokens) and is recorded. A concurrent poll that lost the race to redeem is
 * as much a replay, as in the code flow.
 */
async function replayed(deps: DeviceCodeGrantDeps, req: TokenRequest, device: DeviceAuthorization, now: number): Promise<never> {
  if (device.codeId !== null) {
    await deps.codes.revokeIssuedFrom(device.codeId, now)
    req.audit.record({ event: 'code_replay', codeId: device.codeId, clientId: device.clientId, via: 'device', deviceAuthorizationId: device.id })
  }
  throw new OAuthError('invalid_grant', 'the device code has already been used')
}

/**
 * RFC 8628 §3.4, §3.5: the device polls with its device code until the user approves or denies
 * on the verification page, or the code expires. Approval wrote an authorization code; the
 * device code redeems it through the same exchange as the code flow (its tokens, refresh-token
 * family, ID token with auth_time, and its single use: one conditional UPDATE, ADR 0004).
 */
export function deviceCodeGrant(deps: DeviceCodeGrantDeps): GrantHandler {
  return {
    async handle(req, client) {
      const value = req.params.get('device_code')
      if (value === undefined) throw new OAuthError('invalid_request', 'device_code is required')
      const device = await deps.devices.findByDeviceCodeHash(sha256Hex(value))
      // Another client's device code is as unknown to this one as a made-up one.
      if (!device || device.clientId !== client.id) throw new OAuthError('invalid_grant', 'unknown device_code')
      const now = deps.clock.now()
      // Before the expiry check, as in the code flow: a replay is answered whenever it comes.
      if (device.redeemedAt !== null) return replayed(deps, req, device, now)
      if (device.expiresAt <= now) throw new OAuthError('expired_token', 'the device code has expired; start again')
      // RFC 6749 §5.2 error responses are 400, access_denied included.
      if (device.status === 'denied') throw new OAuthError('access_denied', 'the user denied the request', { status: 400 })
      if (device.status === 'pending') return pending(deps, device, now)

      const code = device.codeId === null ? undefined : await deps.codes.findById(device.codeId)
      // Gone: the user's grants were revoked (or the user removed) since the approval.
      if (!code) throw new OAuthError('invalid_grant', 'the authorization is no longer valid')
      // Redeemed by a concurrent poll that has not yet marked the device authorization.
      if (code.usedAt !== null) return replayed(deps, req, device, now)
      // The requirement may have risen since the approval (--require-mfa, a factor enrolled).
      if (!(await stillMeetsRequirement(deps.requirements, client, code.userId, code.amr))) {
        req.audit.record({ event: 'grant_refused', userId: code.userId, clientId: client.id, grant: req.grantType, reason: 'second_factor_required' })
        throw new OAuthError('invalid_grant', SIGN_IN_TOO_WEAK)
      }
      const response = await deps.tokens.exchangeCode({ client, code, request: req })
      if (response === 'userInactive') throw new OAuthError('invalid_grant', 'the authorization is no longer valid')
      // A concurrent poll redeemed it first.
      if (!response) return replayed(deps, req, device, now)
      await deps.devices.markRedeemed(device.id, now)
      return response
    },
  }
}

export const deviceCodeDefinition: GrantDefinition = {
  type: DEVICE_CODE_GRANT,
  // RFC 8628 §3.4: public clients (a TV, a command-line tool) send their client_id only.
  confidentialOnly: false,
  parameters: ['device_code'],
  create: (deps) => deviceCodeGrant({ devices: deps.repos.devices, codes: deps.repos.codes, tokens: deps.tokens, clock: deps.clock, requirements: deps.requirements }),
}
