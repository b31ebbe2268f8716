import { exitIfAbandoned, run } from './main.js';
await run();
exitIfAbandoned();
