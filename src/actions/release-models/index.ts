import { run } from './main.js';
await run();
// A call abandoned at its deadline may still hold a socket open: end once everything else is done.
setTimeout(() => process.exit(), 2_000).unref();
