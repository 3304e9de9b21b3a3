/**
 * The README and the pages under docs/ hold together: every relative link reaches a file that exists (and
 * a heading in it, for #anchors), the README stays a front door, and pages keep current figures rather than
 * dated diaries.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const README_MAX_LINES = 320;

function markdownFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(full);
    return entry.name.endsWith('.md') ? [full] : [];
  });
}

const PAGES = [path.join(ROOT, 'README.md'), ...markdownFiles(path.join(ROOT, 'docs'))];
const rel = (file: string) => path.relative(ROOT, file);

/** The file's lines outside fenced code blocks (a `# 200` in a shell example is output, not a heading). */
function proseLines(text: string): { line: string; number: number }[] {
  const out: { line: string; number: number }[] = [];
  let fence: string | undefined;
  text.split('\n').forEach((line, i) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      return;
    }
    if (fence === undefined) out.push({ line, number: i + 1 });
  });
  return out;
}

/** What a heading renders as: links become their text, code spans and emphasis lose their marks. */
function headingText(raw: string): string {
  return raw
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/(\*\*|__|\*|_)(.+?)\1/g, '$2')
    .trim();
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{N}\p{M}\p{Pc}\- ]/gu, '').replace(/ /g, '-');
}

/** Every anchor the file's headings get, repeated headings numbered -1, -2, ... as GitHub does. */
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const { line } of proseLines(fs.readFileSync(file, 'utf8'))) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = slug(headingText(heading[1]));
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Inline links and images outside code: [text](target) and ![alt](target), with any "title" dropped. */
function links(file: string): { target: string; number: number }[] {
  const out: { target: string; number: number }[] = [];
  for (const { line, number } of proseLines(fs.readFileSync(file, 'utf8'))) {
    const prose = line.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/!?\[(?:[^\]]|\][^(])*?\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ target: m[1], number });
  }
  return out;
}

describe('the README and docs/', () => {
  test('there is a README and at least one page under docs/', () => {
    expect(PAGES.map(rel)).toContain('README.md');
    expect(PAGES.filter((f) => rel(f).startsWith('docs')).length).toBeGreaterThan(0);
  });

  test.each(PAGES.map((f) => [rel(f), f]))('every relative link in %s reaches a file, and a heading for an #anchor', (_name, file) => {
    const broken: string[] = [];
    for (const { target, number } of links(file)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: ... are not the repository's to check
      const [pathPart, anchor] = target.split('#', 2);
      const destination = pathPart === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(pathPart));
      if (!fs.existsSync(destination)) {
        broken.push(`line ${number}: ${target} (no such file)`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!destination.endsWith('.md')) {
        broken.push(`line ${number}: ${target} (an anchor into a file that is not Markdown)`);
      } else if (!anchors(destination).has(anchor)) {
        broken.push(`line ${number}: ${target} (no heading with that anchor in ${rel(destination)})`);
      }
    }
    expect(broken).toEqual([]);
  });

  test(`the README is at most ${README_MAX_LINES} lines: the depth belongs in docs/`, () => {
    const lines = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').replace(/\n$/, '').split('\n').length;
    expect(lines).toBeLessThanOrEqual(README_MAX_LINES);
  });

  test.each(PAGES.map((f) => [rel(f), f]))('%s has no dated diary heading', (_name, file) => {
    // A bold lead ("**2026-12-02 (...)**") did a heading's job in the old README's diaries, so it counts too.
    const dated = proseLines(fs.readFileSync(file, 'utf8'))
      .filter(({ line }) => /^ {0,3}(#{1,6}\s|\*\*)/.test(line) && /20\d\d-\d\d-\d\d/.test(line.startsWith('**') ? line.slice(0, line.indexOf('**', 2) + 2) : line))
      .map(({ line, number }) => `line ${number}: ${line}`);
    expect(dated).toEqual([]);
  });
});

describe('the link checker itself', () => {
  test('slugs follow GitHub: code marks and punctuation dropped, spaces to hyphens', () => {
    expect(slug(headingText('`npm run bench:batch`'))).toBe('npm-run-benchbatch');
    expect(slug(headingText("Answers from nginx and Node's HTTP parser"))).toBe('answers-from-nginx-and-nodes-http-parser');
    expect(slug(headingText('Proxy mode: any HTTP scorer behind the SageMaker contract'))).toBe('proxy-mode-any-http-scorer-behind-the-sagemaker-contract');
    expect(slug(headingText('Training (`train`)'))).toBe('training-train');
  });
});
