// A scoring server in Node for the proxy-mode tests that need what Java's HttpServer cannot do: listen on
// a unix socket (SCORER_SOCKET), reset a connection mid-request, ignore SIGTERM (SCORER_IGNORE_SIGTERM=1),
// and start a child process of its own (SCORER_CHILD_PID_FILE: its pid is written there).
// Port: MODEL_SERVER_UPSTREAM_PORT (set by serve), else SCORER_PORT. GET /ping answers 200; POST
// /invocations does what X-Scorer-Behaviour says: echo (default), reset, slow:<ms>.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.url === '/ping') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      return res.end('ok\n');
    }
    const behaviour = String(req.headers['x-scorer-behaviour'] ?? 'echo');
    if (behaviour === 'reset') return req.socket.destroy();
    const answer = () => {
      res.writeHead(200, { 'Content-Type': req.headers['content-type'] ?? 'application/octet-stream', 'X-Scorer': 'node' });
      res.end(Buffer.concat(chunks));
    };
    if (behaviour.startsWith('slow:')) setTimeout(answer, Number(behaviour.slice(5)));
    else answer();
  });
});

if (process.env.SCORER_IGNORE_SIGTERM === '1') process.on('SIGTERM', () => console.log('scorer: SIGTERM ignored'));
if (process.env.SCORER_CHILD_PID_FILE) {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  fs.writeFileSync(process.env.SCORER_CHILD_PID_FILE, String(child.pid));
}
const socket = process.env.SCORER_SOCKET;
if (socket) fs.rmSync(socket, { force: true });
server.listen(socket ? { path: socket } : { host: '127.0.0.1', port: Number(process.env.MODEL_SERVER_UPSTREAM_PORT || process.env.SCORER_PORT) }, () => {
  console.log(`scorer: listening on ${socket ?? server.address().port}`);
});
