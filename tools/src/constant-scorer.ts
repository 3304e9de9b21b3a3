// `npm run bench`'s constant-answer scorer for proxy mode: one plain node:http process answering every
// request with the same short body once it has read the request's, i.e. the fastest scorer one process
// can be. The bench calls it directly and through serve, in the same run.
// usage: node container/dist/tools/constant-scorer.js PORT
import { constantAnswerServer } from './constant-answer';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: constant-scorer.js PORT');
  process.exit(2);
}
// Longer than nginx's idle keep-alive to a scorer (4 s), like the servers it stands for.
const server = constantAnswerServer(30_000);
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
