import { createConnection, createServer, type Server, type Socket } from 'node:net'
import type { Test } from 'tap'

/**
 * A TCP proxy between a latchkey process and a database, for outage tests: it forwards until
 * told to cut, and the real database is never touched. Closed at teardown.
 */
export interface TcpProxy {
  readonly port: number
  /** Connections ever accepted (to tell that a client reconnected). */
  accepted(): number
  /** The database is down: every connection is destroyed and new ones are refused (ECONNREFUSED). */
  refuse(): Promise<void>
  /**
   * The network drops everything: connections stay open but nothing passes either way, and new
   * ones are accepted and left hanging, as behind a firewall that drops packets. With
   * `newConnections: 'forward'` only the open connections go silent (a firewall that lost its
   * connection table) and new ones work.
   */
  blackHole(options?: { newConnections: 'hang' | 'forward' }): void
  /** Back to forwarding; what a black hole held passes on, as TCP would retransmit it. */
  restore(): Promise<void>
}

interface Pair {
  client: Socket
  upstream: Socket | undefined
}

export async function startTcpProxy(t: Test, target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: 'forward' | 'black-hole' | 'refuse' = 'forward'
  let holdNew = true
  let accepted = 0
  const pairs = new Set<Pair>()

  const destroy = (pair: Pair) => {
    pair.client.destroy()
    pair.upstream?.destroy()
    pairs.delete(pair)
  }
  const connectUpstream = (pair: Pair) => {
    const upstream = createConnection(target)
    pair.upstream = upstream
    upstream.on('data', (data) => pair.client.write(data))
    pair.client.on('data', (data) => upstream.write(data))
    upstream.on('error', () => destroy(pair))
    upstream.on('close', () => destroy(pair))
  }
  const onConnection = (client: Socket) => {
    accepted++
    const pair: Pair = { client, upstream: undefined }
    pairs.add(pair)
    client.on('error', () => destroy(pair))
    client.on('close', () => destroy(pair))
    if (mode === 'black-hole' && holdNew) {
      // Accepted by the "network", never answered: the connection attempt hangs.
      client.pause()
      return
    }
    connectUpstream(pair)
  }

  let server: Server = createServer(onConnection)
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  await listen(0)
  const port = (server.address() as { port: number }).port

  const proxy: TcpProxy = {
    port,
    accepted: () => accepted,
    async refuse() {
      mode = 'refuse'
      for (const pair of [...pairs]) destroy(pair)
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
    blackHole(options = { newConnections: 'hang' }) {
      mode = 'black-hole'
      holdNew = options.newConnections === 'hang'
      for (const { client, upstream } of pairs) {
        client.pause()
        upstream?.pause()
      }
    },
    async restore() {
      if (mode === 'refuse') {
        server = createServer(onConnection)
        await listen(port)
      }
      mode = 'forward'
      for (const pair of [...pairs]) {
        if (pair.client.destroyed) continue
        if (pair.upstream === undefined) connectUpstream(pair)
        pair.client.resume()
        pair.upstream?.resume()
      }
    },
  }
  t.teardown(async () => {
    for (const pair of [...pairs]) destroy(pair)
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return proxy
}
