import { benchHttp } from './http.js'
import { benchVerify } from './verify.js'

// Each bench runs for a fixed, short time and prints operations per second; compare runs on
// the same machine only.
const results = [...(await benchHttp()), ...(await benchVerify())]
for (const { name, opsPerSec } of results) console.log(`${name.padEnd(50)} ${opsPerSec.toLocaleString('en')} ops/s`)
const heap = process.memoryUsage()
console.log(`heap used ${(heap.heapUsed / 1048576).toFixed(1)} MiB, rss ${(heap.rss / 1048576).toFixed(1)} MiB`)
