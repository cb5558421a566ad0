import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/**
 * Encryption at rest of what must be read back (an authenticator-app secret, which the server
 * needs in the clear to compute codes, so it cannot be hashed): AES-256-GCM under a key kept
 * outside the database (KEYS_DIR/totp.key), so a database dump or backup alone reveals no
 * secret. Stored as `v1:<iv>:<ciphertext+tag>` (base64url); the version names the key and
 * scheme, so either can change later without guessing what a row holds.
 */
export interface SecretBox {
  /** `context` (the user's id) is authenticated, not stored: a value copied to another user's row does not open there. */
  seal(plain: string, context: string): Promise<string>
  open(sealed: string, context: string): Promise<string>
}

export const SECRET_KEY_BYTES = 32
const VERSION = 'v1'
const IV_BYTES = 12
const TAG_BYTES = 16

/** A stored value that does not open: not ours, altered, or sealed under another key. */
export class SealedSecretError extends Error {
  override name = 'SealedSecretError'
}

export function sealWith(key: Buffer, plain: string, context: string): string {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(`${VERSION}:${context}`))
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()])
  return `${VERSION}:${iv.toString('base64url')}:${body.toString('base64url')}`
}

export function openWith(key: Buffer, sealed: string, context: string): string {
  const [version, ivText, bodyText, ...rest] = sealed.split(':')
  if (version !== VERSION || ivText === undefined || bodyText === undefined || rest.length > 0) throw new SealedSecretError('not a sealed secret of a known version')
  const iv = Buffer.from(ivText, 'base64url')
  const body = Buffer.from(bodyText, 'base64url')
  if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new SealedSecretError('sealed secret is malformed')
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(`${VERSION}:${context}`))
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES))
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString('utf8')
  } catch {
    throw new SealedSecretError('sealed secret does not open with this key (altered, or another key)')
  }
}

/** A box over a key: in memory (tests), or loaded on first use (KEYS_DIR/totp.key) and kept. */
export function keySecretBox(key: Buffer | (() => Promise<Buffer>)): SecretBox {
  let loading: Promise<Buffer> | undefined
  const get = (): Promise<Buffer> => {
    if (Buffer.isBuffer(key)) return Promise.resolve(key)
    // A failed load (say KEYS_DIR unreadable) is tried again next time.
    loading ??= key().catch((error: unknown) => {
      loading = undefined
      throw error
    })
    return loading
  }
  return {
    seal: async (plain, context) => sealWith(await get(), plain, context),
    open: async (sealed, context) => openWith(await get(), sealed, context),
  }
}
