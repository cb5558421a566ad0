import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Asset, PageAssets } from '../pages/pages.js'

/** A year: the URL pages use carries the content hash, so a changed file is a new URL. */
const VERSIONED = 'public, max-age=31536000, immutable'
/** A URL without the current hash (an old page, a hand-typed link): revalidate soon. */
const UNVERSIONED = 'public, max-age=300'

/**
 * The stylesheet, the brand's logo and the passkey scripts, served by latchkey itself: the pages' CSP stays
 * `default-src 'self'`, and no third party learns who opens a sign-in page.
 */
export const assetsRoute: FastifyPluginAsync<{ assets: PageAssets }> = async (app, { assets }) => {
  function send(request: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
    const version = (request.query as Record<string, unknown>).v
    reply
      .header('cache-control', `v=${String(version)}` === asset.url.split('?')[1] ? VERSIONED : UNVERSIONED)
      .header('etag', asset.etag)
      .header('x-content-type-options', 'nosniff')
      // An SVG logo opened on its own is a document of latchkey's origin: no script runs in it.
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; sandbox")
    const match = request.headers['if-none-match']
    if (match !== undefined && match.split(',').some((tag) => tag.trim().replace(/^W\//, '') === asset.etag)) {
      return reply.code(304).send()
    }
    return reply.type(asset.contentType).send(asset.body)
  }

  app.get('/assets/latchkey.css', async (request, reply) => send(request, reply, assets.stylesheet))
  const [webauthn, passkeys] = assets.passkeyScripts
  app.get('/assets/webauthn.js', async (request, reply) => send(request, reply, webauthn))
  app.get('/assets/passkeys.js', async (request, reply) => send(request, reply, passkeys))
  const logo = assets.logo
  if (logo !== undefined) app.get('/assets/logo', async (request, reply) => send(request, reply, logo))
}
