/** `pnpm start`: migrations, API server and runner on this machine (see LocalSystem). */
import { runLocalSystem } from "../packages/local/src/LocalSystem.js"

runLocalSystem()
