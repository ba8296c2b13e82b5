/** `pnpm start`: migrations, API server and runner on this machine (see LocalSystem). */
import { runLocalSystem } from "../packages/runner/src/LocalSystem.js"

runLocalSystem()
