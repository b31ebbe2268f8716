import { run } from './main.js';
await run();
// The step ends with its work: a call the deadline gave up on (e.g. to a Kubernetes API server that
// stopped answering) must not hold the process open until its own timeout.
process.exit();
