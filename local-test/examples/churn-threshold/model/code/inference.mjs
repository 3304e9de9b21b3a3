// Post-processing only: the server decodes CSV/JSON/JSON Lines and runs the churn classifier as usual;
// this turns its answer into a decision with our own threshold, under our own field names.
// Everything else (formats, batching of requests, errors) stays the server's.

/** Churn is flagged from this probability up (lower than 0.5: a missed churner costs more than a call). */
const THRESHOLD = 0.35;

/** The hooks only post-process each request's own rows: queued requests may share one model run. */
export const batchSafe = true;

/** @type {import('../../../../../container/types/inference').OutputFn<import('../../../../../container/types/inference').ClassificationRecord[]>} */
export function outputFn(prediction, accept, context) {
  // A caller may move the threshold per request: X-Amzn-SageMaker-Custom-Attributes: threshold=0.5
  const asked = /(?:^|,)\s*threshold=([0-9.]+)/.exec(context.customAttributes ?? '');
  const threshold = asked ? Number(asked[1]) : THRESHOLD;
  if (!(threshold >= 0 && threshold <= 1)) {
    throw Object.assign(new Error(`threshold=${asked?.[1]} must be between 0 and 1`), { statusCode: 400 });
  }
  context.setHeader('X-Amzn-SageMaker-Custom-Attributes', `threshold=${threshold}`);
  const decisions = prediction.map((row) => {
    const churn = row.probabilities[row.labels.indexOf('churn')];
    return { will_churn: churn >= threshold, churn_probability: Math.round(churn * 1e4) / 1e4 };
  });
  // A list: written as JSON, CSV or JSON Lines, whichever Accept asks for.
  return accept === 'application/json' ? { decisions, threshold } : decisions;
}
