// The real scoring servers the proxy-mode tests put behind the product: a Java one (another language,
// as SAS's and H2O's scorers are) compiled once per test file, and a Node one for what Java's HttpServer
// cannot do (unix sockets, resets, ignoring SIGTERM, children of its own). See test/scorers/.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { childPids, startServer, type Server } from './server';

const SCORERS = path.resolve(__dirname, '../scorers');

let compiled: string | undefined;

/** The command that runs the Java scorer (compiled on first use: `java Scorer.java` would compile on every start). */
export function javaScorer(): string {
  if (!compiled) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-scorer-'));
    execFileSync('javac', ['-d', dir, path.join(SCORERS, 'Scorer.java')], { stdio: 'pipe' });
    compiled = dir;
  }
  return `java -Xshare:auto -XX:TieredStopAtLevel=1 -cp ${compiled} Scorer`;
}

/** The command that runs the Node scorer. */
export const nodeScorer = (): string => `${process.execPath} ${path.join(SCORERS, 'scorer.js')}`;

/** Fails when Java is missing: these tests need a real scorer in another language and must never skip. */
export function requireJava(): void {
  for (const tool of ['java', 'javac']) {
    try {
      execFileSync(tool, ['-version'], { stdio: 'pipe' });
    } catch {
      throw new Error(`${tool} is not installed: the proxy-mode tests run a real Java scorer. Install it: apt-get install -y openjdk-17-jdk-headless`);
    }
  }
}

/** An /opt/ml folder with no model: proxy mode needs none. */
export function emptyBase(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ms-base-'));
}

/** serve in proxy mode: `env` names the upstream and, usually, the command that starts the scorer. */
export function startProxy(env: Record<string, string>, ready = true): Promise<Server> {
  return startServer({ baseDir: emptyBase(), env, ready });
}

/** The pid of the scorer's shell as serve logged it ("started the scorer"), once it has. */
export function scorerPid(server: Server): number | undefined {
  return server.logs.find((l) => l.msg === 'started the scorer (MODEL_SERVER_UPSTREAM_COMMAND)')?.scorerPid as number | undefined;
}

/** A process and all its descendants. */
export function descendants(pid: number): number[] {
  return [pid, ...childPids(pid).flatMap(descendants)];
}
