/** `pnpm start`: migrations, API server and runner on this machine (see LocalSystem). */
import { runLocalSystem } from "../packages/server/src/LocalSystem.js"

runLocalSystem()
