import type { FastifyPluginAsync } from 'fastify'
import type { Authorization } from '../../authorization/index.js'
import { sessionSatisfies } from '../../authorization/login-session.js'
import { signedInTransaction } from '../../authorization/transactions.js'
import { authorizationError, parseAuthorizationRequest } from '../../authorization/request.js'
import type { AuthorizationGrant } from '../../authorization/code-issuance.js'
import type { SignInChecker } from '../../accounts/credentials.js'
import type { PasskeyService } from '../../accounts/passkeys.js'
import type { SignInLimits } from '../../accounts/second-factor-check.js'
import type { SecondFactors } from '../../accounts/second-factors.js'
import type { AuditLog } from '../../audit.js'
import { secondStep } from '../sign-in/second-step.js'
import { secondFactorRoutes } from './second-factor.js'
import type { Clock } from '../../clock.js'
import type { Config } from '../../config.js'
import { OAuthError } from '../../errors.js'
import { Params } from '../../oauth/params.js'
import { setPageHeaders, type Pages } from '../../pages/pages.js'
import type { Repositories } from '../../storage/repositories.js'
import type { IdTokenHintVerifier } from '../../tokens/id-token-hint.js'
import { browserCookies, redirectPostToGet } from '../browser-cookies.js'
import { consentRoute } from './consent.js'
import { deviceRoute, deviceSteps } from './device.js'
import { loginRoute } from './login.js'
import { passkeyLoginRoute } from './passkey.js'
import { startTransaction } from './start.js'
import { authorizeSteps } from './steps.js'

export interface AuthorizeRouteOptions {
  config: Config
  repos: Repositories
  clock: Clock
  pages: Pages
  /** Transactions, consent, login sessions and codes (built once in app.ts). */
  auth: Authorization
  /** Reads id_token_hint (built once in app.ts). */
  hints: IdTokenHintVerifier
  /** The sign-in check (built once in app.ts, shared with the password grant). */
  signIns: SignInChecker
  /** Whether /token serves the device code grant, so /device is served. */
  deviceFlow: boolean
  secondFactorsFor: (audit: AuditLog) => SecondFactors
  /** The login throttle and the per-address limit, which second-factor codes count against too. */
  signInLimits: SignInLimits
  /** Passkey sign-in (built once in app.ts). */
  passkeys: PasskeyService
}

/** The authorization endpoint (RFC 6749 §3.1) and the login and consent forms it shows. */
export const authorizeRoute: FastifyPluginAsync<AuthorizeRouteOptions> = async (app, options) => {
  const { config, repos, clock, pages, auth, hints } = options
  const cookies = browserCookies({ issuer: config.issuer })
  const steps = authorizeSteps({ auth, pages, repos, lifetimes: config })
  const routeConfig = { errorFormat: 'authorize' as const }
  // Every page, error page and redirect of the authorization endpoint.
  app.addHook('onRequest', async (_request, reply) => setPageHeaders(reply))

  app.get('/authorize', { config: routeConfig }, async (request, reply) => {
    const req = await parseAuthorizationRequest(
      { clients: repos.clients, scopes: repos.scopes, pkceRequired: config.pkceRequired, defaultAudience: config.defaultAudience },
      new Params(request.query),
    )
    const found = req.prompt.login ? undefined : await auth.sessions.find(cookies.sessionId(request))
    const hinted = found && req.idTokenHint !== undefined ? await hints.verify(req.idTokenHint) : undefined
    const requirement = { maxAgeSeconds: req.maxAgeSeconds, hintSubject: hinted?.subject }
    // OIDC Core §3.1.2.1: a session counts only if it is recent enough, of the hinted user, and
    // its sign-in meets the class required (acr_values, the client's --require-mfa, MFA_REQUIRED);
    // otherwise the user signs in again (prompt=none: login_required).
    const strongEnough = async (s: NonNullable<typeof found>) =>
      auth.requirements.isMetBy(s.amr, { client: req.client, acrValues: req.acrValues, userId: s.userId })
    const session = found && sessionSatisfies(found, requirement, clock.now()) && (await strongEnough(found)) ? found : undefined
    const grant: AuthorizationGrant = {
      clientId: req.client.id,
      redirectUri: req.redirectUri,
      state: req.state ?? null,
      scopes: req.scopes.map((s) => s.name),
      resource: req.resource,
      codeChallenge: req.pkce?.challenge ?? null,
      codeChallengeMethod: req.pkce?.method ?? null,
      nonce: req.nonce ?? null,
    }
    if (req.prompt.none) {
      // OIDC Core §3.1.2.1: no page at all; say what interaction would be needed (on a page
      // for a self-registered client: it gets no redirect the user did not ask for).
      const target = { redirectUri: req.redirectUri, state: req.state }
      if (!session) throw authorizationError(req.client, new OAuthError('login_required', 'the user is not signed in'), target)
      if (await auth.consent.needsConsent(req.client, { ...grant, userId: session.userId, forceConsent: false })) {
        throw authorizationError(req.client, new OAuthError('consent_required', 'the user has not consented to this request'), target)
      }
      return steps.redirectWithCode(request, reply, { ...grant, userId: session.userId, authTime: session.authTime, amr: session.amr })
    }

    const open = await startTransaction(auth, request, {
      grant,
      browserId: cookies.browserId(request, reply),
      forceConsent: req.prompt.consent,
      signedIn: session && { userId: session.userId, authTime: session.authTime, amr: session.amr },
      acrValues: req.acrValues,
      loginHint: req.loginHint,
      maxAgeSeconds: req.maxAgeSeconds,
      // OIDC Core §3.1.2.1: the pages' language, kept for the forms that follow.
      uiLocale: pages.pickUiLocale(req.uiLocales),
      clientAddress: request.ip,
    })
    const signedIn = signedInTransaction(open.tx)
    if (!signedIn) return steps.renderLogin(reply, { ...open, client: req.client })
    return steps.continueSignedIn(request, reply, { ...open, tx: signedIn, client: req.client })
  })

  app.post('/authorize', { config: routeConfig }, async (request, reply) => redirectPostToGet('/authorize', request.body, reply))

  const { secondFactorsFor } = options
  const context = {
    auth,
    cookies,
    steps,
    device: deviceSteps({ auth, pages }),
    repos,
    clock,
    routeConfig,
    secondStep: secondStep({ pages, secondFactorsFor, limits: options.signInLimits, users: repos.users }),
  }
  loginRoute(app, { ...context, signIns: options.signIns })
  secondFactorRoutes(app, context)
  passkeyLoginRoute(app, { ...context, passkeys: options.passkeys })
  consentRoute(app, context)
  // RFC 8628 §3.3: the verification page, when the device grant is served.
  if (options.deviceFlow) deviceRoute(app, { ...context, pages, issuer: config.issuer })
}
