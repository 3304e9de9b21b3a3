// Every metric in the catalogue is documented in docs/metrics.md with its type and labels, and named by
// Prometheus' conventions (counters end in _total, durations are in seconds).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { METRICS } from '../../container/src/metrics/catalogue';

const page = fs.readFileSync(path.resolve(__dirname, '../../docs/metrics.md'), 'utf8');

test.each(Object.values(METRICS).map((m) => [m.name, m] as const))('%s is in docs/metrics.md with its type and labels', (name, m) => {
  const row = page.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
  expect(row).toBeDefined();
  const cells = row!.split('|').map((c) => c.trim());
  expect(cells[2]).toBe(m.type);
  for (const label of m.labels) expect(cells[3]).toContain(`\`${label}\``);
  if (m.labels.length === 0) expect(cells[3]).toBe('');
});

test("names follow Prometheus' conventions", () => {
  for (const m of Object.values(METRICS)) {
    expect(m.name).toMatch(/^model_server_[a-z_]+$/);
    if (m.type === 'counter') expect(m.name).toMatch(/_total$/);
    if (m.type === 'histogram' && m.name !== METRICS.batchSize.name) expect(m.name).toMatch(/_seconds$/);
  }
});
