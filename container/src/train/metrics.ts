// Model quality measures printed as train:/validation: metric lines.

export function classificationMetrics(probabilities: Float64Array, y: Int32Array, rows: number, classes: number): Record<string, number> {
  let correct = 0;
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < classes; j++) if (probabilities[r * classes + j] > probabilities[r * classes + best]) best = j;
    if (best === y[r]) correct += 1;
    loss -= Math.log(Math.max(probabilities[r * classes + y[r]], 1e-15));
  }
  return { accuracy: correct / rows, log_loss: loss / rows };
}

export function regressionMetrics(predicted: Float64Array, y: Float64Array, rows: number): Record<string, number> {
  let mean = 0;
  for (let r = 0; r < rows; r++) mean += y[r];
  mean /= rows;
  let sse = 0;
  let sst = 0;
  let sae = 0;
  for (let r = 0; r < rows; r++) {
    const e = y[r] - predicted[r];
    sse += e * e;
    sae += Math.abs(e);
    sst += (y[r] - mean) ** 2;
  }
  return { rmse: Math.sqrt(sse / rows), mae: sae / rows, r2: sst > 0 ? 1 - sse / sst : 0 };
}
