"""Compares an app's exported ONNX model, run by onnxruntime, with what `strata-APP predict` wrote for the same
input. One case a call; exits 1 when the largest difference is above 1e-4 (absolute, on probabilities / scores;
1e-4 relative for anomaly scores, 1e-4 absolute for a sum of standardised terms), printing it either way.

    python tests/app_export_parity.py segment MODEL.onnx IMAGE.npy PROB_PNG_AS.npy
    python tests/app_export_parity.py faults  MODEL.onnx SECTION.npy PROB.npy
    python tests/app_export_parity.py anomaly MODEL.onnx IMAGES.npy SCORES.csv
    python tests/app_export_parity.py welllog MODEL.onnx CURVES.npy PREDICTIONS.csv

A segment model's expected map is predict's 16-bit probability PNG: P(class 1) for a binary model, the
probability of each pixel's most likely class for a multi-class one.
"""
import csv
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    app, model, inputs, expected = sys.argv[1:5]
    onnx.checker.check_model(model, full_check=True)
    runtime = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    x = np.load(inputs).astype(np.float32)
    outputs = runtime.run(None, {runtime.get_inputs()[0].name: x})
    if app in ("segment", "faults"):
        got, want = outputs[0], np.load(expected)
        if got.shape[1] > 1 and want.size * got.shape[1] == got.size:
            # several classes: predict wrote the probability of each pixel's most likely class
            got = got.max(axis=1, keepdims=True)
        want = want.reshape(got.shape)
        err = float(np.max(np.abs(got - want)))
    elif app == "anomaly":
        with open(expected) as f:
            want = np.array([float(r["score"]) for r in csv.DictReader(f)])
        got = outputs[1]
        meta = {p.key: p.value for p in onnx.load(model).metadata_props}
        if meta.get("strata.score", "").startswith("sum of standardised terms"):
            # standardised terms: the score is in standard deviations, near 0 for a typical normal image
            err = float(np.max(np.abs(got - want)))
        else:
            err = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-12)))
    elif app == "welllog":
        with open(expected) as f:
            rows = list(csv.DictReader(f))
        columns = [c for c in rows[0] if c.startswith("P_")]
        want = np.array([[float(r[c]) for r in rows] for c in columns])  # classes x samples
        got = outputs[0][0]
        err = float(np.max(np.abs(got - want)))
        err = max(0.0, err - 5e-6)  # predict writes probabilities with 5 decimals
    else:
        raise SystemExit(f"unknown app {app}")
    ok = err <= 1e-4
    print(f"{app}: onnxruntime against strata predict: max difference {err:.2e} {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
