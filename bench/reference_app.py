"""The reference server of bench/serving.py: the minimal FastAPI app most teams write first.

It loads the same registered model and calls `pipeline.predict_proba` on a one-row DataFrame of the request's
(already engineered) features: no feature store, no batching, no logging. Run by bench/serving.py as
    uvicorn --factory reference_app:app   (with MLOPS_NB_WORKSPACE, REFERENCE_MODEL and REFERENCE_VERSION set)
"""
import os
import pandas as pd
from fastapi import FastAPI


def app():
    from mlops_nb.registry import load_registered
    model = load_registered(os.environ['MLOPS_NB_WORKSPACE'], os.environ['REFERENCE_MODEL'],
                            int(os.environ['REFERENCE_VERSION']))
    api = FastAPI(title='reference')

    @api.post('/predict')
    def predict(row: dict): return {'probability': float(model.predict_proba(pd.DataFrame([row]))[0, 1])}

    @api.get('/health')
    def health(): return {'status': 'ok'}
    return api
