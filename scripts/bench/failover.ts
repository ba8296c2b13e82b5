/** `pnpm bench failover`: lateness of a burst when one of two runners is SIGKILLed a second after it fell due. */
import { runFailoverBench } from "../../packages/runner/test/bench/FailoverBench.js"

runFailoverBench()
