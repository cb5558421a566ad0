import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { PasswordHasher } from '../../accounts/passwords.js'
import { listGrants, revokeGrants } from '../../admin/grants.js'
import type { ListInput } from '../../admin/paging.js'
import { listSessions, revokeSessions } from '../../admin/sessions.js'
import { addUser, disableUser, enableUser, listUsers, removeUser, setPassword, showUser, updateUser } from '../../admin/users.js'
import type { Clock } from '../../clock.js'
import type { Repositories } from '../../storage/repositories.js'
import { grant, listQuery, pageOf, pagingQuery, session, user, userId, usernameParams, withErrors } from './schemas.js'

export interface AdminRouteOptions {
  repos: Repositories
  passwords: PasswordHasher
  clock: Clock
  issuer: string
}

type Params = { username: string }

/** Users, and each user's grants and sessions: /admin/v1/users… */
export const adminUserRoutes: FastifyPluginAsync<AdminRouteOptions> = async (app, { repos, passwords, clock }) => {
  const acting = (request: FastifyRequest) => ({ clock, audit: request.audit, actor: request.adminClientId })
  const tags = ['users']

  app.get('/users', { schema: { tags, summary: 'List users by username', querystring: listQuery, response: withErrors({ 200: pageOf(user) }) } }, async (request) =>
    listUsers({ users: repos.users }, request.query as ListInput),
  )
  app.post(
    '/users',
    {
      schema: {
        tags,
        summary: 'Add a user',
        body: {
          type: 'object',
          properties: { username: { type: 'string' }, password: { type: 'string' }, email: { type: 'string' }, name: { type: 'string' } },
          required: ['username', 'password'],
          additionalProperties: false,
        },
        response: withErrors({ 201: userId }, 409),
      },
    },
    async (request, reply) => {
      const body = request.body as { username: string; password: string; email?: string; name?: string }
      return reply.code(201).send(await addUser({ users: repos.users, passwords, ...acting(request) }, body))
    },
  )
  app.get('/users/:username', { schema: { tags, summary: 'Show a user', params: usernameParams, response: withErrors({ 200: user }, 404) } }, async (request) =>
    showUser({ users: repos.users }, (request.params as Params).username),
  )
  app.patch(
    '/users/:username',
    {
      schema: {
        tags,
        summary: "Change a user's username, email or name (an empty email or name clears it)",
        params: usernameParams,
        body: { type: 'object', properties: { username: { type: 'string' }, email: { type: 'string' }, name: { type: 'string' } }, additionalProperties: false },
        response: withErrors({ 200: user }, 404, 409),
      },
    },
    async (request) => updateUser({ users: repos.users, ...acting(request) }, (request.params as Params).username, request.body as { username?: string; email?: string; name?: string }),
  )
  app.put(
    '/users/:username/password',
    {
      schema: {
        tags,
        summary: "Set a user's password; ends their sessions and refresh tokens",
        params: usernameParams,
        body: { type: 'object', properties: { password: { type: 'string' } }, required: ['password'], additionalProperties: false },
        response: withErrors({ 200: user }, 404),
      },
    },
    async (request) => setPassword({ users: repos.users, passwords, ...acting(request) }, (request.params as Params).username, (request.body as { password: string }).password),
  )
  app.post(
    '/users/:username/disable',
    { schema: { tags, summary: 'Disable a user: no sign-in, refresh or userinfo; ends sessions, revokes refresh tokens', params: usernameParams, response: withErrors({ 200: user }, 404) } },
    async (request) => disableUser({ users: repos.users, ...acting(request) }, (request.params as Params).username),
  )
  app.post('/users/:username/enable', { schema: { tags, summary: 'Enable a disabled user', params: usernameParams, response: withErrors({ 200: user }, 404) } }, async (request) =>
    enableUser({ users: repos.users, ...acting(request) }, (request.params as Params).username),
  )
  app.delete('/users/:username', { schema: { tags, summary: 'Remove a user and everything they hold', params: usernameParams, response: withErrors({ 200: userId }, 404) } }, async (request) =>
    removeUser({ users: repos.users, ...acting(request) }, (request.params as Params).username),
  )

  const grantTags = ['grants']
  app.get(
    '/users/:username/grants',
    { schema: { tags: grantTags, summary: "A user's consents and refresh-token families, by client (search: client_id or client name)", params: usernameParams, querystring: listQuery, response: withErrors({ 200: pageOf(grant) }, 404) } },
    async (request) => listGrants({ users: repos.users, grants: repos.grants }, (request.params as Params).username, request.query as ListInput),
  )
  app.delete(
    '/users/:username/grants',
    {
      schema: {
        tags: grantTags,
        summary: "Forget a user's consents and revoke their refresh tokens, for one client or all",
        params: usernameParams,
        querystring: { type: 'object', properties: { client_id: { type: 'string' } }, additionalProperties: false },
        response: withErrors(
          { 200: { type: 'object', properties: { revoked: { type: 'object', properties: { consents: { type: 'integer' }, refresh_token_families: { type: 'integer' } } } } } },
          404,
        ),
      },
    },
    async (request) =>
      revokeGrants({ users: repos.users, clients: repos.clients, grants: repos.grants, ...acting(request) }, (request.params as Params).username, {
        clientId: (request.query as { client_id?: string }).client_id,
      }),
  )

  const sessionTags = ['sessions']
  app.get(
    '/users/:username/sessions',
    { schema: { tags: sessionTags, summary: "A user's unexpired sign-in sessions (no search: a session names nothing to search by)", params: usernameParams, querystring: pagingQuery, response: withErrors({ 200: pageOf(session) }, 404) } },
    async (request) => listSessions({ users: repos.users, sessions: repos.sessions, clock }, (request.params as Params).username, request.query as ListInput),
  )
  app.delete(
    '/users/:username/sessions',
    { schema: { tags: sessionTags, summary: 'Sign a user out of every browser', params: usernameParams, response: withErrors({ 200: { type: 'object', properties: { ended: { type: 'integer' } } } }, 404) } },
    async (request) => revokeSessions({ users: repos.users, sessions: repos.sessions, ...acting(request) }, (request.params as Params).username),
  )
}
