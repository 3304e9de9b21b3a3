// XGBoost's legacy binary model format (what save_model writes without a .json/.ubj extension in XGBoost
// 1.x, and SageMaker's built-in XGBoost 1.3-1 to 1.7-1 as xgboost-model), read into the document shape of
// its JSON format so one reader serves both: the 136-byte LearnerModelParamLegacy, the objective and
// booster names, GBTreeModelParam, each tree's TreeParam, nodes and statistics, tree_info, DART's weights
// and the attributes (best_ntree_limit among them). Little-endian, as XGBoost writes it on x86 and ARM.
import { TreeModelError } from './xgboost';

const PARAM_BYTES = 136;
const GBTREE_PARAM_BYTES = 160;
const TREE_PARAM_BYTES = 148;
const NODE_BYTES = 20;
const STAT_BYTES = 16;

/** Whether the bytes start like a legacy binary model (the optional "binf" header, then a plausible parameter block). */
export function looksLikeXgboostBinary(bytes: Uint8Array): boolean {
  const at = bytes.length >= 4 && String.fromCharCode(...bytes.subarray(0, 4)) === 'binf' ? 4 : 0;
  if (bytes.length < at + PARAM_BYTES + 16) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const numFeature = view.getUint32(at + 4, true);
  const numClass = view.getInt32(at + 8, true);
  const objectiveLength = Number(view.getBigUint64(at + PARAM_BYTES, true));
  if (numFeature > 1e8 || numClass < 0 || numClass > 1e6 || objectiveLength === 0 || objectiveLength > 64 || bytes.length < at + PARAM_BYTES + 8 + objectiveLength) return false;
  const objective = new TextDecoder().decode(bytes.subarray(at + PARAM_BYTES + 8, at + PARAM_BYTES + 8 + objectiveLength));
  return /^[a-z]+:[a-z]+$/.test(objective);
}

export function readXgboostBinary(bytes: Uint8Array): Record<string, unknown> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = bytes.length >= 4 && String.fromCharCode(...bytes.subarray(0, 4)) === 'binf' ? 4 : 0;
  const need = (n: number, what: string) => {
    if (at + n > bytes.length) throw new TreeModelError(`the file ends at byte ${bytes.length}, inside ${what} (byte ${at}): it is truncated, or not an XGBoost model`);
  };
  const u64 = (what: string) => {
    need(8, what);
    const v = Number(view.getBigUint64(at, true));
    at += 8;
    return v;
  };
  const str = (what: string) => {
    const n = u64(what);
    need(n, what);
    at += n;
    return new TextDecoder().decode(bytes.subarray(at - n, at));
  };

  need(PARAM_BYTES, 'the learner parameters');
  const baseScore = view.getFloat32(at, true);
  const numFeature = view.getUint32(at + 4, true);
  const numClass = view.getInt32(at + 8, true);
  const extraAttrs = view.getInt32(at + 12, true);
  const major = view.getUint32(at + 20, true);
  const minor = view.getUint32(at + 24, true);
  const numTarget = view.getUint32(at + 28, true) || 1;
  at += PARAM_BYTES;
  const objective = str('the objective name');
  const booster = str('the booster name');
  if (booster === 'gblinear') return { learner: { learner_model_param: { num_feature: numFeature }, objective: { name: objective }, gradient_booster: { name: 'gblinear' } } };
  if (booster !== 'gbtree' && booster !== 'dart') throw new TreeModelError(`booster "${booster}" is not one the server serves (gbtree, dart)`);

  need(GBTREE_PARAM_BYTES, 'the tree booster parameters');
  const numTrees = view.getInt32(at, true);
  const numParallel = view.getInt32(at + 4, true) || 1;
  const leafVector = view.getInt32(at + 28, true);
  at += GBTREE_PARAM_BYTES;
  if (leafVector !== 0) throw new TreeModelError('its trees have vector leaves (multi-target trees), which the server does not serve');
  if (numTrees < 0 || numTrees > 10_000_000) throw new TreeModelError(`it claims ${numTrees} trees`);
  const trees: Record<string, unknown>[] = [];
  for (let t = 0; t < numTrees; t++) {
    need(TREE_PARAM_BYTES, `tree ${t}'s parameters`);
    const numNodes = view.getInt32(at + 4, true);
    at += TREE_PARAM_BYTES;
    if (numNodes <= 0 || numNodes * (NODE_BYTES + STAT_BYTES) > bytes.length - at) throw new TreeModelError(`tree ${t} claims ${numNodes} nodes, more than the file holds`);
    const left: number[] = new Array(numNodes);
    const right: number[] = new Array(numNodes);
    const feature: number[] = new Array(numNodes);
    const cond: number[] = new Array(numNodes);
    const defaultLeft: number[] = new Array(numNodes);
    for (let i = 0; i < numNodes; i++, at += NODE_BYTES) {
      left[i] = view.getInt32(at + 4, true);
      right[i] = view.getInt32(at + 8, true);
      const sindex = view.getUint32(at + 12, true);
      feature[i] = sindex & 0x7fffffff;
      defaultLeft[i] = sindex >>> 31;
      cond[i] = view.getFloat32(at + 16, true);
    }
    at += numNodes * STAT_BYTES;
    trees.push({ left_children: left, right_children: right, split_indices: feature, split_conditions: cond, default_left: defaultLeft });
  }
  const treeInfo: number[] = [];
  if (numTrees > 0) {
    need(4 * numTrees, 'tree_info');
    for (let t = 0; t < numTrees; t++, at += 4) treeInfo.push(view.getInt32(at, true));
  }
  const gbtree = { name: 'gbtree', model: { trees, tree_info: treeInfo, gbtree_model_param: { num_parallel_tree: numParallel } } };
  let gradientBooster: Record<string, unknown> = gbtree;
  if (booster === 'dart') {
    const weights: number[] = [];
    if (numTrees > 0) {
      const n = u64('DART weights');
      need(4 * n, 'DART weights');
      for (let i = 0; i < n; i++, at += 4) weights.push(view.getFloat32(at, true));
    }
    gradientBooster = { name: 'dart', gbtree, weight_drop: weights };
  }
  const attributes: Record<string, string> = {};
  if (extraAttrs !== 0) {
    const n = u64('the attributes');
    if (n > 100_000) throw new TreeModelError(`it claims ${n} attributes`);
    for (let i = 0; i < n; i++) {
      const key = str('an attribute name');
      attributes[key] = str(`attribute ${key}`);
    }
  }
  // Before XGBoost 1.0 the stored base_score was already in margin space (multi:* aside).
  const marginStored = major < 1 && !objective.startsWith('multi:');
  return {
    learner: {
      learner_model_param: { base_score: baseScore, num_feature: numFeature, num_class: numClass, num_target: numTarget, ...(marginStored ? { base_margin_stored: true } : {}) },
      objective: { name: objective },
      gradient_booster: gradientBooster,
      attributes,
      feature_names: [],
    },
    version: [major, minor],
  };
}
