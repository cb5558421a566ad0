import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { bearerToken } from '../oauth/bearer.js'
import type { Registrations } from '../registration/registrations.js'
import { acceptMediaTypes, refuseOtherMethods } from './route-rules.js'

export interface RegisterRouteOptions {
  registrations: Registrations
  /** REGISTRATION=token: POST /register needs an initial access token. */
  requireInitialAccessToken: boolean
}

/** The bearer token of the Authorization header (RFC 6750 §2.1), undefined without the header. */
function presentedToken(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization
  return authorization === undefined ? undefined : bearerToken({ authorization, formTokens: [] })
}

/**
 * RFC 7591 client registration at POST /register and RFC 7592 management at
 * /register/:client_id, both JSON. Errors are RFC 7591 §3.2.2 JSON (no-store, from the app's
 * onSend hook); a missing or bad bearer token also gets an RFC 6750 challenge.
 */
export const registerRoute: FastifyPluginAsync<RegisterRouteOptions> = async (app, { registrations, requireInitialAccessToken }) => {
  const config = { errorFormat: 'bearer' as const }
  const preParsing = acceptMediaTypes('application/json')

  app.post('/register', { config, preParsing }, async (request, reply) => {
    const initialAccessToken = requireInitialAccessToken ? presentedToken(request) : undefined
    const answer = await registrations.register({ body: request.body, initialAccessToken, ip: request.ip, audit: request.audit })
    return reply.code(answer.status).send(answer.body)
  })

  // No HEAD route: a HEAD would spend the registration access token and discard the new one.
  app.get<{ Params: { client_id: string } }>('/register/:client_id', { config, exposeHeadRoute: false }, async (request, reply) => {
    const answer = await registrations.read({ clientId: request.params.client_id, token: presentedToken(request) })
    return reply.code(answer.status).send(answer.body)
  })

  app.put<{ Params: { client_id: string } }>('/register/:client_id', { config, preParsing }, async (request, reply) => {
    const answer = await registrations.update({ clientId: request.params.client_id, token: presentedToken(request), body: request.body, audit: request.audit })
    return reply.code(answer.status).send(answer.body)
  })

  app.delete<{ Params: { client_id: string } }>('/register/:client_id', { config }, async (request, reply) => {
    await registrations.remove({ clientId: request.params.client_id, token: presentedToken(request), audit: request.audit })
    return reply.code(204).send()
  })

  refuseOtherMethods(app, '/register', ['GET', 'PUT', 'PATCH', 'DELETE'], 'POST')
  refuseOtherMethods(app, '/register/:client_id', ['HEAD', 'POST', 'PATCH'], 'GET, PUT, DELETE')
}
