"""The small real datasets scikit-learn bundles, laid out for `train` (input/data/train and validation: CSV,
label first, no header), for `npm run bench:gbdt`: breast cancer (binary), wine and digits (multiclass),
diabetes (regression). A fixed 80/20 split (numpy seed 0). A development tool, never run by the product.

usage: python3 sklearn_datasets.py OUT_DIR
"""
import json
import os
import sys

import numpy as np
from sklearn import datasets

SETS = {
    "breast_cancer": (datasets.load_breast_cancer, {"objective": "binary:logistic", "eval_metric": "logloss"}),
    "wine": (datasets.load_wine, {"objective": "multi:softprob", "num_class": "3", "eval_metric": "mlogloss"}),
    "digits": (datasets.load_digits, {"objective": "multi:softprob", "num_class": "10", "eval_metric": "mlogloss"}),
    "diabetes": (datasets.load_diabetes, {"objective": "reg:squarederror", "eval_metric": "rmse"}),
}


def write(path, y, x):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for label, row in zip(y, x):
            f.write(",".join([f"{label:g}"] + [f"{v:.8g}" for v in row]) + "\n")


def main():
    out = sys.argv[1]
    for name, (load, hp) in SETS.items():
        x, y = load(return_X_y=True)
        order = np.random.default_rng(0).permutation(len(y))
        cut = int(len(y) * 0.8)
        base = os.path.join(out, name)
        write(os.path.join(base, "input/data/train/data.csv"), y[order[:cut]], x[order[:cut]])
        write(os.path.join(base, "input/data/validation/data.csv"), y[order[cut:]], x[order[cut:]])
        os.makedirs(os.path.join(base, "input/config"), exist_ok=True)
        with open(os.path.join(base, "input/config/hyperparameters.json"), "w") as f:
            json.dump(hp, f)
        print(f"{name}: {cut} train, {len(y) - cut} validation rows, {x.shape[1]} features")


if __name__ == "__main__":
    main()
