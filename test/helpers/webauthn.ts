import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { isoCBOR } from '@simplewebauthn/server/helpers'
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server'

/** What a ceremony may get wrong on purpose. */
export interface Tamper {
  origin?: string
  rpId?: string
  /** User verification flag; true unless said. */
  userVerified?: boolean
  /** The counter to report (the credential's next one unless said). */
  counter?: number
  /** Another challenge than the options'. */
  challenge?: string
  /** The user handle to report (the one registered unless said; null: none). */
  userHandle?: string | null
  /** The length of a new credential id (16 bytes unless said). */
  credentialIdBytes?: number
}

interface Credential {
  id: string
  key: KeyObject
  counter: number
  userHandle: string
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url')
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest()

/**
 * A software authenticator for inject tests: ES256 keys, `none` attestation, a counter per
 * credential. It makes WebAuthn answers a browser would send, right or (with Tamper) wrong.
 */
export class SoftAuthenticator {
  readonly credentials: Credential[] = []

  constructor(private readonly origin: string) {}

  private get rpIdDefault(): string {
    return new URL(this.origin).hostname
  }

  private clientData(type: string, challenge: string, tamper: Tamper): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge: tamper.challenge ?? challenge, origin: tamper.origin ?? this.origin, crossOrigin: false }))
  }

  private flags(tamper: Tamper, extra = 0): number {
    return 0x01 | (tamper.userVerified === false ? 0 : 0x04) | extra
  }

  register(options: PublicKeyCredentialCreationOptionsJSON, tamper: Tamper = {}): RegistrationResponseJSON {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = publicKey.export({ format: 'jwk' })
    const cose = isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x as string, 'base64url')],
        [-3, Buffer.from(jwk.y as string, 'base64url')],
      ]),
    )
    const id = randomBytes(tamper.credentialIdBytes ?? 16)
    const counter = Buffer.alloc(4)
    const idLength = Buffer.alloc(2)
    idLength.writeUInt16BE(id.length)
    const authData = Buffer.concat([sha256(tamper.rpId ?? this.rpIdDefault), Buffer.from([this.flags(tamper, 0x40)]), counter, Buffer.alloc(16), idLength, id, cose])
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]) as never)
    this.credentials.push({ id: b64(id), key: privateKey, counter: 0, userHandle: options.user.id })
    return {
      id: b64(id),
      rawId: b64(id),
      type: 'public-key',
      response: { clientDataJSON: b64(this.clientData('webauthn.create', options.challenge, tamper)), attestationObject: b64(attestationObject), transports: ['internal'] },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    }
  }

  /** An assertion with the given credential (the first one unless said). */
  assert(options: PublicKeyCredentialRequestOptionsJSON, tamper: Tamper = {}, credential = this.credentials[0]): AuthenticationResponseJSON {
    if (!credential) throw new Error('no credential registered')
    credential.counter = tamper.counter ?? credential.counter + 1
    const counter = Buffer.alloc(4)
    counter.writeUInt32BE(credential.counter)
    const authData = Buffer.concat([sha256(tamper.rpId ?? this.rpIdDefault), Buffer.from([this.flags(tamper)]), counter])
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, tamper)
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), credential.key)
    const userHandle = tamper.userHandle === undefined ? credential.userHandle : tamper.userHandle
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      response: { clientDataJSON: b64(clientDataJSON), authenticatorData: b64(authData), signature: b64(signature), ...(userHandle === null ? {} : { userHandle }) },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    }
  }
}
