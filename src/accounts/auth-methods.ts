// Moved to src/oauth/auth-methods.ts (every part may import oauth); kept while branches move over.
export * from '../oauth/auth-methods.js'
