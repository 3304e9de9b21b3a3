// The tree ensemble every supported file format is read into before it becomes an ONNX graph: trees of
// numeric and categorical splits over the input's columns (plus columns derived from a feature where a
// split needs one), leaves that add to one output each, and the bias each output starts from.

/** A column computed from a feature, for splits ONNX's comparisons cannot make on the feature itself. */
export type Derivation =
  /** XGBoost's category: floor(x) (negative values then match no category, as XGBoost sends them left). */
  | 'floor'
  /** LightGBM's category: x truncated toward zero, as its static_cast<int> does. */
  | 'trunc'
  /** LightGBM's zero-as-missing splits: NaN for |x| <= 1e-35f (float), so the split's missing direction takes them. */
  | 'zero-as-missing';

/** One tree, nodes in arrays; node 0 is the root. */
export interface Tree {
  /** The output its leaf adds to (the class, for multiclass models). */
  target: number;
  /** Per node: the column split on, or -1 for a leaf. */
  column: number[];
  /** Per node: the threshold of a numeric split, or the value of a leaf. */
  value: number[];
  left: number[];
  right: number[];
  /** Per split: where a missing value (NaN in the column) goes. */
  missingLeft: boolean[];
  /** Per categorical split: its categories (undefined for numeric splits and leaves). */
  categories: (number[] | undefined)[];
}

export interface Ensemble {
  /** Input precision: XGBoost reads float32, LightGBM double. */
  precision: 'float' | 'double';
  /** A numeric split sends x left when x < threshold (XGBoost) or x <= threshold (LightGBM). */
  comparison: 'lt' | 'leq';
  /** A categorical split sends a value whose category is in its set this way (XGBoost right, LightGBM left). */
  memberGoes: 'left' | 'right';
  /** Features of the input. */
  features: number;
  /** Columns after the features: column features + i is derived[i] of its source feature. */
  derived: { source: number; how: Derivation }[];
  /** Outputs the trees add to. */
  targets: number;
  /** What each output starts from (XGBoost's base margin; 0 for LightGBM, whose first trees hold it). */
  base: number[];
  trees: Tree[];
}

/** Columns of an ensemble being built: derived columns are made once per feature and kind. */
export class Columns {
  readonly derived: Ensemble['derived'] = [];
  private readonly index = new Map<string, number>();

  constructor(readonly features: number) {}

  /** The column holding feature `source` as `how` derives it. */
  derive(source: number, how: Derivation): number {
    const key = `${how}:${source}`;
    let column = this.index.get(key);
    if (column === undefined) {
      column = this.features + this.derived.length;
      this.derived.push({ source, how });
      this.index.set(key, column);
    }
    return column;
  }
}

/** Counts of an ensemble for the start-up log. */
export function ensembleSize(e: Ensemble): { trees: number; nodes: number; leaves: number } {
  let nodes = 0;
  let leaves = 0;
  for (const t of e.trees) {
    nodes += t.column.length;
    for (const c of t.column) if (c < 0) leaves += 1;
  }
  return { trees: e.trees.length, nodes, leaves };
}
