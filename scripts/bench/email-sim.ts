/** `pnpm bench email-sim`: req/s of the email simulator alone under a bare undici loop. */
import { runSimulatorBench } from "../../packages/email-sim/src/SimulatorBench.js"

runSimulatorBench()
