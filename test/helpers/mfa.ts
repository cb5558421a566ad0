import type { LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { AuthMethod } from '../../src/oauth/auth-methods.js'
import { buildTestApp, logLines, type TestApp } from './app.js'
import { Browser, hiddenInputs } from './browser.js'
import { totpCode, totpStep } from '../../src/accounts/totp.js'
import { createClient, createUser } from './oauth.js'

/** An app whose audit lines (and request log) are collected, with one user and one client. */
export async function mfaApp(t: Test, env: Record<string, string> = {}) {
  const lines: string[] = []
  const ctx = await buildTestApp(t, { env, logger: { level: 'info', stream: logLines(lines) } })
  const user = await createUser(ctx)
  const client = await createClient(ctx, { scope: 'openid profile' })
  const audit = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => typeof l.event === 'string')
  return { ctx, user, client, lines, audit }
}

/** Enrols an authenticator app for the user directly; its secret and recovery codes. */
export async function enrolTotp(ctx: TestApp, user: { id: string; username: string }): Promise<{ secret: string; recoveryCodes: string[] }> {
  const enrolled = await ctx.secondFactors?.addConfirmedTotp(user.id, user.username)
  if (!enrolled) throw new Error('could not enrol')
  return enrolled
}

/** The code an authenticator app with `secret` shows at `ms`. */
export function appCode(secret: string, ms: number): string {
  return totpCode(secret, totpStep(ms))
}

/** The code the user's app shows now (on the server's clock). */
export function codeNow(ctx: TestApp, secret: string, offsetSeconds = 0): string {
  return appCode(secret, ctx.clock.now() + offsetSeconds * 1000)
}

/** Posts the second-factor form of `page` (an app code, or a recovery code). */
export function sendCode(browser: Browser, page: LightMyRequestResponse, code: string, method: 'totp' | 'recovery' = 'totp', base = '/authorize') {
  return browser.post(`${base}/second-factor`, { ...hiddenInputs(page.body, `${base}/second-factor`), method, code })
}

/** The secret shown on an enrolment page (grouped in fours for typing). */
export function shownSecret(page: LightMyRequestResponse): string {
  const grouped = /<p class="secret"><code>([A-Z2-7 ]+)<\/code><\/p>/.exec(page.body)?.[1]
  if (!grouped) throw new Error('no secret on the page')
  return grouped.replace(/ /g, '')
}

/** The amr of the browser's login session, from the database. */
export async function sessionAmr(ctx: TestApp): Promise<AuthMethod[][]> {
  const rows = await ctx.store.db.selectFrom('login_sessions').select('amr').execute()
  return rows.map((r) => JSON.parse(r.amr ?? '["pwd"]') as AuthMethod[])
}
