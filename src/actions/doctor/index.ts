import { run } from './main.js';
await run();
// The step ends with its work: a call the deadline gave up on must not hold the process open.
process.exit();
