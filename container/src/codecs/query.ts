// GET /predict_parameters?feature=value&...: one row given by feature name (the H2O scorer's GET API).
import { MatrixBuilder, tabularSchema } from './rows';
import type { Matrix } from '../vocabulary';
import type { DecodeContext } from './types';

export function decodeQuery(query: Readonly<Record<string, string>>, ctx: DecodeContext): Matrix {
  const builder = new MatrixBuilder(tabularSchema(ctx), 1);
  builder.addNamedCells(query, 'query parameters');
  return builder.finish('no parameters');
}
