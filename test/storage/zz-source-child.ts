import { startSourceServer } from './source-server.js';
const server = await startSourceServer();
console.log(server.origin);
