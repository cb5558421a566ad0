import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import ts from 'typescript'
import { REPO_ROOT } from './processes.js'

/**
 * The peer and resource-server scripts as plain JavaScript in bench/.build/peers, so they start
 * as latchkey does (node on a .js file) and no TypeScript loader weighs on their start times.
 * They stay inside the repository so their imports resolve from its node_modules.
 */
export async function transpilePeers(): Promise<string> {
  const source = join(REPO_ROOT, 'bench/peers')
  const out = join(REPO_ROOT, 'bench/.build/peers')
  await mkdir(out, { recursive: true })
  for (const file of await readdir(source)) {
    if (!file.endsWith('.ts') || file.endsWith('.d.ts')) continue
    const { outputText } = ts.transpileModule(await readFile(join(source, file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      fileName: file,
    })
    await writeFile(join(out, file.replace(/\.ts$/, '.js')), outputText)
  }
  return out
}
