"""The stack's own steps for one request body, alone (no HTTP), for `npm run bench:xgboost`: CPU microseconds
per request of serve.py's CSV parsing into a DMatrix, xgboost's predict (a fresh DMatrix each time, so its
prediction cache never answers) and the CSV answer, the median of 5 batches. Reads the body on stdin.

    MODEL=/path/to/xgboost-model python3 tools/xgboost-stack/alone.py RUNS < body.csv
"""
import json
import resource
import sys

import serve


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def per_run(step, runs):
    batches = []
    for _ in range(5):
        start = cpu()
        for _ in range(runs):
            step()
        batches.append((cpu() - start) / runs * 1e6)
    return round(sorted(batches)[2], 1)


runs = int(sys.argv[1])
text = sys.stdin.read().strip()
limit = getattr(serve.booster, 'best_ntree_limit', 0)
matrices = [serve.csv_to_dmatrix(text) for _ in range(5 * runs)]
preds = serve.booster.predict(matrices[0], ntree_limit=limit, validate_features=False)
result = {
    'decode': per_run(lambda: serve.csv_to_dmatrix(text), runs),
    'predict': per_run(lambda: serve.booster.predict(matrices.pop(), ntree_limit=limit, validate_features=False), runs),
    'encode': per_run(lambda: ''.join(f'{p}\n' for p in preds.tolist()), runs),
}
print(json.dumps(result))
