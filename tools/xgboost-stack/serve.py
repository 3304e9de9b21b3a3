"""The serving stack of AWS's SageMaker XGBoost container (1.7-1), for speed comparisons only: gunicorn with
gevent workers, Flask, and xgboost, doing per request what its algorithm_mode/serve.py does (parse the CSV
into a DMatrix, booster.predict with ntree_limit=best_ntree_limit and one thread, write one prediction per
line). Not the container's code; Debian's python3-gunicorn, python3-flask, python3-gevent, python3-xgboost.

    MODEL=/path/to/xgboost-model gunicorn -k gevent -w N -b 127.0.0.1:PORT --chdir tools/xgboost-stack serve:app
"""
import csv
import os

import flask
import numpy as np
import xgboost as xgb

app = flask.Flask(__name__)
booster = xgb.Booster()
booster.load_model(os.environ['MODEL'])
booster.set_param('nthread', 1)


def csv_to_dmatrix(text):
    # encoder.csv_to_dmatrix: sniff the delimiter, empty field = nan, float array, DMatrix.
    delimiter = csv.Sniffer().sniff(text.split('\n')[0][:512]).delimiter
    delimiter = ',' if delimiter.isalnum() else delimiter
    rows = [['nan' if x == '' else x for x in line.split(delimiter)] for line in text.split('\n')]
    return xgb.DMatrix(np.array(rows).astype(float))


@app.route('/ping', methods=['GET'])
def ping():
    return flask.Response(status=200)


@app.route('/invocations', methods=['POST'])
def invocations():
    dtest = csv_to_dmatrix(flask.request.data.strip().decode('utf-8'))
    preds = booster.predict(dtest, ntree_limit=getattr(booster, 'best_ntree_limit', 0), validate_features=False)
    # sagemaker_containers' array_to_csv: np.savetxt(fmt='%s') of preds.tolist().
    body = ''.join(f'{p}\n' for p in preds.tolist())
    return flask.Response(response=body, status=200, mimetype='text/csv')
