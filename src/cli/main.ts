import { readFileSync } from 'node:fs'
import { runCli } from './program.js'

process.exitCode = await runCli(process.argv, {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readStdin: () => readFileSync(0, 'utf8'),
})
