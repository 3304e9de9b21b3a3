"""XGBoost's side of `npm run bench:gbdt`: trains on a dataset folder laid out for `train` (input/data/train,
input/data/validation: CSV, label first, no header) with the job's hyperparameters, tree_method=hist, and
prints one JSON line: the validation metric of the last kept round, seconds to build the DMatrix and to
train. A development tool (Debian's python3-xgboost, the version of SageMaker's 1.7-1 image), never run by
the product.

usage: python3 xgb_train.py DATASET_DIR HYPERPARAMETERS_JSON
"""
import json
import os
import sys
import time

import numpy as np
import pandas as pd
import xgboost as xgb


def load(folder):
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if not f.startswith("."))
    frame = pd.concat([pd.read_csv(f, header=None) for f in files])
    values = frame.to_numpy(dtype=np.float32)
    return values[:, 1:], values[:, 0]


def main():
    base, hp = sys.argv[1], json.loads(sys.argv[2])
    started = time.perf_counter()
    x_train, y_train = load(os.path.join(base, "input/data/train"))
    x_valid, y_valid = load(os.path.join(base, "input/data/validation"))
    read = time.perf_counter() - started
    rounds = int(hp.pop("num_round"))
    early = hp.pop("early_stopping_rounds", None)
    params = {k: v for k, v in hp.items() if k not in ("checkpoint_interval",)}
    params["tree_method"] = "hist"
    if "eval_metric" in params:
        params["eval_metric"] = params["eval_metric"].split(",")
    t0 = time.perf_counter()
    threads = int(params.get("nthread", 2))
    dtrain = xgb.DMatrix(x_train, label=y_train, nthread=threads)
    dvalid = xgb.DMatrix(x_valid, label=y_valid, nthread=threads)
    t1 = time.perf_counter()
    log = {}
    callbacks = [xgb.callback.EarlyStopping(rounds=int(early), save_best=True)] if early else []
    booster = xgb.train(params, dtrain, rounds, evals=[(dtrain, "train"), (dvalid, "validation")], evals_result=log, verbose_eval=False, callbacks=callbacks)
    t2 = time.perf_counter()
    metrics = log["validation"]
    name = list(metrics.keys())[-1]
    kept = booster.num_boosted_rounds()
    print(json.dumps({"metric": name, "value": metrics[name][kept - 1], "rounds": kept, "read_seconds": read, "dmatrix_seconds": t1 - t0, "train_seconds": t2 - t1}))


if __name__ == "__main__":
    main()
