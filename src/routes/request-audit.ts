import type { FastifyInstance } from 'fastify'
import type { AppAudit, AuditLog } from '../audit.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Security events of this request: they carry its id and the caller's address. */
    audit: AuditLog
  }
}

/** Gives every request its `request.audit`, bound to the app's audit log. */
export function auditRequests(app: FastifyInstance, audit: AppAudit): void {
  app.decorateRequest('audit', null as unknown as AuditLog)
  app.addHook('onRequest', async (request) => {
    request.audit = audit.inRequest({ requestId: request.id, ip: request.ip })
  })
}
