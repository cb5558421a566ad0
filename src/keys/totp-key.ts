import { randomBytes } from 'node:crypto'
import { lstat, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { keySecretBox, SECRET_KEY_BYTES, type SecretBox } from './secret-box.js'
import { KeyFileError } from './key-file.js'
import { withLock, writeFileAtomic } from './key-writer.js'

/**
 * The key that encrypts authenticator-app secrets at rest: 32 random bytes, base64url, in
 * KEYS_DIR/totp.key (mode 0600). Not a `.json` file, so the signing-key reader never sees it.
 * Back it up with KEYS_DIR: without it no enrolled authenticator app works any more (users
 * would sign in with a recovery code or a passkey, or an administrator runs `user mfa reset`).
 */
export const TOTP_KEY_FILE = 'totp.key'

async function readKey(path: string): Promise<Buffer | undefined> {
  let text: string
  try {
    const info = await lstat(path)
    if (!info.isFile()) throw new KeyFileError(`KEYS_DIR: ${path} is not a regular file; remove it`)
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    if (error instanceof KeyFileError) throw error
    throw new KeyFileError(`KEYS_DIR: ${path} could not be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  const key = Buffer.from(text.trim(), 'base64url')
  if (!/^[A-Za-z0-9_-]+$/.test(text.trim()) || key.length !== SECRET_KEY_BYTES) {
    throw new KeyFileError(`KEYS_DIR: ${path} is not a ${SECRET_KEY_BYTES}-byte key in base64url; restore it from a backup (removing it disables every enrolled authenticator app)`)
  }
  return key
}

/**
 * KEYS_DIR/totp.key, created if missing. Several instances share KEYS_DIR: creation runs under
 * KEYS_DIR's lock and looks again once it holds it, so of two creating at once one writes the
 * key and both use it; the file appears whole (written aside, then renamed into place).
 */
export async function loadOrCreateTotpKey(dir: string): Promise<Buffer> {
  const path = join(dir, TOTP_KEY_FILE)
  const existing = await readKey(path)
  if (existing !== undefined) return existing
  return withLock(dir, async () => {
    const found = await readKey(path)
    if (found !== undefined) return found
    const key = randomBytes(SECRET_KEY_BYTES)
    await writeFileAtomic(path, `${key.toString('base64url')}\n`)
    return key
  })
}

/**
 * KEYS_DIR/totp.key, which must exist: for the CLI, which must seal secrets under the key the
 * server has. Creating one here would seal them under a key the server never sees (KEYS_DIR
 * defaults to ./keys of the working directory), and the server could not open them.
 */
export async function loadTotpKey(dir: string): Promise<Buffer> {
  const path = join(dir, TOTP_KEY_FILE)
  const key = await readKey(path)
  if (key === undefined) {
    throw new KeyFileError(`KEYS_DIR/${TOTP_KEY_FILE} not found (${path}): run the CLI with the server's KEYS_DIR; the server creates it at its first start`)
  }
  return key
}

/** The box the CLI seals TOTP secrets with: the existing key is read on first use, never made. */
export function totpSecretBox(dir: string): SecretBox {
  return keySecretBox(() => loadTotpKey(dir))
}
