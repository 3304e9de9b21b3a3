// `npm run fraud-data`: a synthetic card-payment dataset shaped like BankSim (the data behind the H2O
// scorer's fraud example): the fields step, customer, age, gender, zipcodeOri, merchant, zipMerchant,
// category, amount and the target fraud, laid out for `train` (a folder like /opt/ml). Deterministic:
// the same seed gives the same bytes. Every value is made up; fraud depends on the category, the amount,
// the customer's age group and a few merchants, so there is something to learn.
// usage: npm run fraud-data -- [--out DIR] [--rows N] [--seed S]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prng } from '../../container/dist/train/logistic';
import { option } from './cli-helpers';

export const FRAUD_FIELDS = ['step', 'customer', 'age', 'gender', 'zipcodeOri', 'merchant', 'zipMerchant', 'category', 'amount', 'fraud'] as const;

/** The H2O scorer's own example row (a real BankSim customer and merchant id). */
export const SEED_ROW = { step: '0', customer: 'C1093826151', age: '4', gender: 'M', zipcodeOri: '28007', merchant: 'M348934600', zipMerchant: '28007', category: 'es_transportation', amount: '4.55' };

/** What `train` needs besides the data: the codes that look like numbers are categories. */
export const FRAUD_HYPERPARAMETERS = { algorithm: 'logistic', target: 'fraud', categorical: 'age,zipcodeOri,zipMerchant', epochs: '2000' };

/** BankSim's categories: typical amount (euros) and how much likelier than usual fraud is there. */
const CATEGORIES: [string, number, number][] = [
  ['es_transportation', 27, 0.1], ['es_food', 37, 0.1], ['es_health', 135, 1.5], ['es_wellnessandbeauty', 65, 1.2],
  ['es_fashion', 65, 0.8], ['es_barsandrestaurants', 43, 0.6], ['es_hyper', 46, 1.3], ['es_sportsandtoys', 215, 4.5],
  ['es_tech', 120, 1.6], ['es_home', 165, 1.8], ['es_hotelservices', 205, 3.2], ['es_otherservices', 75, 2.2],
  ['es_contents', 45, 0.3], ['es_travel', 2250, 6], ['es_leisure', 290, 7],
];
const AGES = ['0', '1', '2', '3', '4', '5', '6', 'U'];
const GENDERS = ['F', 'M', 'E', 'U'];
const ZIPCODES = ['28007', '28007', '28007', '28007', '28009', '28011'];

export interface FraudDataOptions {
  rows?: number;
  seed?: number;
  customers?: number;
  merchants?: number;
}

/** The dataset as CSV text, header first, the seed's example row first of all. */
export function fraudCsv(options: FraudDataOptions = {}): string {
  const { rows = 20_000, seed = 2017, customers = 600, merchants = 50 } = options;
  const random = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const id = (prefix: string, digits: number) => `${prefix}${Math.floor(10 ** (digits - 1) + random() * 9 * 10 ** (digits - 1))}`;
  const people = Array.from({ length: customers }, (_, i) =>
    i === 0 ? { id: SEED_ROW.customer, age: SEED_ROW.age, gender: SEED_ROW.gender, zip: SEED_ROW.zipcodeOri } : { id: id('C', 10), age: random() < 0.003 ? 'U' : pick(AGES.slice(0, 7)), gender: pick(GENDERS.slice(0, random() < 0.98 ? 2 : 4)), zip: pick(ZIPCODES) },
  );
  const shops = Array.from({ length: merchants }, (_, i) => {
    const category = i === 0 ? CATEGORIES[0] : pick(CATEGORIES);
    // A few shops where much of the fraud happens.
    return { id: i === 0 ? SEED_ROW.merchant : id('M', 9), category, zip: pick(ZIPCODES), risk: i > 0 && random() < 0.1 ? 3 : 0 };
  });
  const lines = [FRAUD_FIELDS.join(','), [...Object.values(SEED_ROW), '0'].join(',')];
  for (let r = 1; r < rows; r++) {
    const who = people[Math.floor(random() ** 1.5 * customers)];
    const shop = shops[Math.floor(random() ** 1.3 * merchants)];
    const [category, typical, risk] = shop.category;
    const spread = Math.exp((random() + random() + random() - 1.5) * 1.1);
    const amount = Math.max(0.01, typical * spread);
    const young = who.age === '0' || who.age === '1' ? 0.5 : 0;
    const logit = -6.5 + 1.3 * Math.log(risk) + amount / 400 + shop.risk + young + (who.age === 'U' ? 1 : 0);
    const fraud = random() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    lines.push([Math.floor((r / rows) * 180), who.id, who.age, who.gender, who.zip, shop.id, shop.zip, category, amount.toFixed(2), fraud].join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** Writes DIR/input/data/training/fraud.csv, a validation split and DIR/input/config/hyperparameters.json. */
export function writeFraudDataset(dir: string, options: FraudDataOptions = {}): { training: string; validation: string } {
  const [header, ...rows] = fraudCsv(options).trimEnd().split('\n');
  // Every fifth row (after the seed's) is held out for validation.
  const validationRows = rows.filter((_, i) => i % 5 === 4);
  const trainingRows = rows.filter((_, i) => i % 5 !== 4);
  const training = path.join(dir, 'input/data/training/fraud.csv');
  const validation = path.join(dir, 'input/data/validation/fraud.csv');
  for (const [file, lines] of [[training, trainingRows], [validation, validationRows]] as const) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${header}\n${lines.join('\n')}\n`);
  }
  fs.mkdirSync(path.join(dir, 'input/config'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'input/config/hyperparameters.json'), `${JSON.stringify(FRAUD_HYPERPARAMETERS, null, 2)}\n`);
  return { training, validation };
}

if (require.main === module) {
  const out = path.resolve(option('out', path.resolve(__dirname, '../../local-test/fraud-dir')));
  const rows = Number(option('rows', '20000'));
  const seed = Number(option('seed', '2017'));
  if (!Number.isInteger(rows) || rows < 10) {
    console.error('usage: npm run fraud-data -- [--out DIR] [--rows N >= 10] [--seed S]');
    process.exit(2);
  }
  const written = writeFraudDataset(out, { rows, seed });
  console.log(`wrote ${rows} rows: ${path.relative(process.cwd(), written.training)}, ${path.relative(process.cwd(), written.validation)} and input/config/hyperparameters.json under ${out}`);
}
