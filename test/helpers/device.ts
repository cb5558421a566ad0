import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { DEVICE_CODE_GRANT } from '../../src/oauth/device-flow.js'
import type { TestApp } from './app.js'
import { Browser, hiddenInputs } from './browser.js'
import { basic, createClient, decide, PASSWORD } from './oauth.js'

export interface DeviceClient {
  client_id: string
  client_secret?: string
  /** The client authentication /token and /device_authorization take from it. */
  auth: { form: Record<string, string>; headers: Record<string, string> }
}

/** A client registered for the device grant (public by default), no redirect URI. */
export async function createDeviceClient(ctx: TestApp, input: { isPublic?: boolean; grants?: string[]; scope?: string; resources?: string[]; name?: string } = {}): Promise<DeviceClient> {
  const isPublic = input.isPublic ?? true
  const client = await createClient(ctx, {
    name: input.name ?? 'Living-room TV',
    isPublic,
    redirectUris: [],
    grants: input.grants ?? [DEVICE_CODE_GRANT, 'refresh_token'],
    ...(input.scope !== undefined ? { scope: input.scope } : {}),
    ...(input.resources ? { resources: input.resources } : {}),
  })
  const auth: DeviceClient['auth'] = isPublic
    ? { form: { client_id: client.client_id }, headers: {} }
    : { form: {}, headers: { authorization: basic(client.client_id, client.client_secret as string) } }
  return { ...client, auth }
}

export function postForm(app: FastifyInstance, url: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  return app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(form).toString(),
  })
}

export interface DeviceStart {
  device_code: string
  user_code: string
  verification_uri: string
  verification_uri_complete: string
  expires_in: number
  interval: number
}

/** POST /device_authorization; throws unless it answers 200. */
export async function startDevice(ctx: TestApp, client: DeviceClient, extra: Record<string, string> = {}): Promise<DeviceStart> {
  const res = await postForm(ctx.app, '/device_authorization', { ...client.auth.form, ...extra }, client.auth.headers)
  if (res.statusCode !== 200) throw new Error(`device_authorization: ${res.statusCode} ${res.body}`)
  return res.json()
}

/** One poll of /token with the device code. */
export function poll(ctx: TestApp, client: DeviceClient, deviceCode: string) {
  return postForm(ctx.app, '/token', { ...client.auth.form, grant_type: DEVICE_CODE_GRANT, device_code: deviceCode }, client.auth.headers)
}

/** GET /device, then POST the code: the page that follows (login, consent or the form again). */
export async function enterUserCode(browser: Browser, userCode: string): Promise<LightMyRequestResponse> {
  const form = await browser.get('/device')
  return browser.post('/device', { ...hiddenInputs(form.body, '/device'), user_code: userCode })
}

/** Enters the code, signs in when asked, and answers the consent page. */
export async function decideOnDevicePage(
  ctx: TestApp,
  userCode: string,
  decision: 'allow' | 'deny',
  browser = new Browser(ctx.app),
  username = 'alice',
): Promise<LightMyRequestResponse> {
  let page = await enterUserCode(browser, userCode)
  if (page.body.includes('name="password"')) {
    page = await browser.post('/authorize/login', { ...hiddenInputs(page.body, '/authorize/login'), username, password: PASSWORD })
  }
  if (!page.body.includes('action="/authorize/consent"')) throw new Error(`no consent page: ${page.statusCode} ${page.body}`)
  return decide(browser, page, decision)
}
