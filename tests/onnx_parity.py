"""ONNX parity: every NAME.onnx in a folder passes onnx.checker (full_check) and onnxruntime reproduces
strata's outputs on the inputs written beside it (NAME_in0.npy -> NAME_out0.npy, NAME_in1.npy -> ...).

    python tests/onnx_parity.py FOLDER [TOLERANCE]

Prints one line a model and input; exits 1 when any output differs by more than TOLERANCE (default 1e-4) times
max(1, |strata's value|), or a file fails the checker.
"""
import glob
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    folder = sys.argv[1]
    tolerance = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-4
    failed = 0
    models = sorted(glob.glob(os.path.join(folder, "*.onnx")))
    if not models:
        print(f"no .onnx files in {folder}")
        return 1
    for path in models:
        name = os.path.splitext(os.path.basename(path))[0]
        onnx.checker.check_model(path, full_check=True)
        runtime = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        input_name = runtime.get_inputs()[0].name
        k = 0
        while os.path.exists(os.path.join(folder, f"{name}_in{k}.npy")):
            x = np.load(os.path.join(folder, f"{name}_in{k}.npy"))
            outputs = runtime.run(None, {input_name: x})
            for j, got in enumerate(outputs):
                want = np.load(os.path.join(folder, f"{name}_out{k}_{j}.npy"))
                if got.shape != want.shape:
                    print(f"{name} input {k} output {j}: shape {got.shape}, strata {want.shape}: FAILED")
                    failed += 1
                    continue
                err = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)))) if want.size else 0.0
                ok = err <= tolerance
                failed += not ok
                print(f"{name} input {k} {tuple(x.shape)} output {j} {tuple(got.shape)}: max error {err:.2e} "
                      f"{'ok' if ok else 'FAILED'}")
            k += 1
        if k == 0:
            print(f"{name}: no inputs")
            failed += 1
    print(f"{len(models) - 0} models, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
