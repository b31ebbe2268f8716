import { run } from './main.js';
await run();
// The step ends with its work: a connection the deadline gave up on must not hold the process open
// (google-auth-library's proxy agent, used when HTTPS_PROXY is set, keeps a socket to a proxy that
// never answers open whatever the deadline; it held the step for minutes after its error).
process.exit();
