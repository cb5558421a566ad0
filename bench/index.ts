import { benchHttp } from './http.js'
import { benchTokens } from './tokens.js'
import { benchVerify } from './verify.js'

// Each bench runs for a fixed, short time and prints operations per second; compare runs on
// the same machine only. Memory is read after a forced GC (npm run bench passes --expose-gc).
const results = [...(await benchHttp()), ...(await benchTokens()), ...(await benchVerify())]
for (const { name, opsPerSec } of results) console.log(`${name.padEnd(50)} ${opsPerSec.toLocaleString('en')} ops/s`)
const gc = (globalThis as { gc?: () => void }).gc
gc?.()
const heap = process.memoryUsage()
console.log(`heap used ${(heap.heapUsed / 1048576).toFixed(1)} MiB${gc ? ' after GC' : ''}, rss ${(heap.rss / 1048576).toFixed(1)} MiB`)
