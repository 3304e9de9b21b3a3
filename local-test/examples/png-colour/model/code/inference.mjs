// A model that is not tabular: its input is an image tensor [1, 3, height, width]. inputFn decodes a PNG
// (with pngjs, from this folder's node_modules) into that tensor; the server runs the model; outputFn
// names the dominant colour.
import { PNG } from 'pngjs';

/** Only PNG comes in; only JSON goes out (anything else is a 415 or a 406 before any hook runs). */
export const consumes = ['image/png'];
export const produces = ['application/json'];

const COLOURS = ['red', 'green', 'blue'];
const MAX_PIXELS = 4096 * 4096;

/** @type {import('../../../../../container/types/inference').InputFn<import('../../../../../container/types/inference').Tensors>} */
export function inputFn(body, contentType, context) {
  if (body.length < 8 || body.readUInt32BE(0) !== 0x89504e47) {
    throw Object.assign(new Error('the body is not a PNG: it does not start with the PNG signature'), { statusCode: 400 });
  }
  let png;
  try {
    png = PNG.sync.read(body);
  } catch (err) {
    throw Object.assign(new Error(`the body is not a readable PNG: ${err instanceof Error ? err.message : err}`), { statusCode: 400 });
  }
  const { width, height, data } = png;
  if (width * height > MAX_PIXELS) throw Object.assign(new Error(`${width}x${height} is over the ${MAX_PIXELS}-pixel limit`), { statusCode: 413 });
  // RGBA, row by row -> planar RGB in 0..1 (alpha dropped).
  const plane = width * height;
  const values = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    values[p] = data[4 * p] / 255;
    values[plane + p] = data[4 * p + 1] / 255;
    values[2 * plane + p] = data[4 * p + 2] / 255;
  }
  return { image: new context.ort.Tensor('float32', values, [1, 3, height, width]) };
}

/** @type {import('../../../../../container/types/inference').OutputFn<import('../../../../../container/types/inference').Tensors>} */
export function outputFn(prediction) {
  const p = Array.from(prediction.probabilities.data, Number);
  const best = p.indexOf(Math.max(...p));
  return { colour: COLOURS[best], probabilities: Object.fromEntries(COLOURS.map((c, i) => [c, Math.round(p[i] * 1e4) / 1e4])) };
}
