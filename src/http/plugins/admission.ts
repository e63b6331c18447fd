import type { FastifyInstance } from 'fastify'
import { admissionDelay } from '../../lib/admission.js'
import { unavailable } from '../../lib/errors.js'
import type { Dispatcher } from '../../modules/delivery/dispatch.port.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Sends to this route are refused while the delivery backlog is too deep. */
    admission?: boolean
  }
}

/** What an unauthenticated caller may learn: that we are busy, never how deep the backlog is. */
export const BUSY_MESSAGE = 'Hikyaku is busy working through its backlog; retry after the Retry-After delay.'

/**
 * Admission control (see lib/admission): runs before authentication so that a refusal costs no
 * database or Redis work (the depth is cached). Since the caller is not known yet, the refusal
 * says nothing about the backlog beyond its existence.
 */
export function registerAdmission(app: FastifyInstance, dispatcher: Pick<Dispatcher, 'backlog'>, maxBacklog: number): void {
  app.addHook('onRequest', async (request) => {
    if (!request.routeOptions.config.admission) return
    const retryAfter = admissionDelay(await dispatcher.backlog(), maxBacklog)
    if (retryAfter !== undefined) throw unavailable(BUSY_MESSAGE, retryAfter)
  })
}
