import t from 'tap'
import { envFor, json } from '../helpers/admin-cli.js'
import { runCliInProcess } from '../helpers/cli.js'

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code'

t.test('client add --grant device_code: public or confidential, no redirect URI needed', async (t) => {
  const env = envFor(t)
  const tv = await json(t, runCliInProcess, ['client', 'add', '--name', 'TV', '--public', '--grant', DEVICE, '--grant', 'refresh_token', '--scope', 'openid'], { env })
  t.type(tv.client_id, 'string')
  t.notOk(tv.client_secret, 'public: no secret')
  t.match(await json(t, runCliInProcess, ['client', 'show', tv.client_id as string], { env }), { public: true, grants: [DEVICE, 'refresh_token'], redirect_uris: [] })
  const cli = await json(t, runCliInProcess, ['client', 'add', '--name', 'Build agent', '--grant', DEVICE], { env })
  t.type(cli.client_secret, 'string', 'confidential: a secret')
})
