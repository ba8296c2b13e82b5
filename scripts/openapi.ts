/**
 * `pnpm openapi lint`: lints the API's OpenAPI document with `@redocly/cli` (redocly.yaml).
 * `pnpm openapi client`: regenerates the openapi-typescript client types the tests use.
 */
import { writeFileSync } from "node:fs"
import {
  generateClientTypes,
  generatedClientPath,
  lintOpenApi,
  openApiDocument
} from "../packages/server/test/support/OpenApiDocument.js"

const command = process.argv[2]
if (command === "lint") {
  const { code, output } = await lintOpenApi(openApiDocument())
  console.log(output)
  process.exit(code)
} else if (command === "client") {
  writeFileSync(generatedClientPath, await generateClientTypes(openApiDocument()))
  console.log(`wrote ${generatedClientPath}`)
} else {
  console.error("usage: pnpm openapi <lint|client>")
  process.exit(2)
}
