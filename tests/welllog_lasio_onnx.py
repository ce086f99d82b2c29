"""A strata-welllog ONNX export applied to a LAS well with lasio and onnxruntime alone, as docs/export.md shows
it: the model's curves read by name from the LAS file, their facies and its probabilities written back as
curves (Predicted, P_<code>, as predict writes them).

    python tests/welllog_lasio_onnx.py MODEL.onnx WELL.las OUT.las
"""
import sys

import lasio
import numpy as np
import onnxruntime as ort

model, well, out = sys.argv[1:4]
sess = ort.InferenceSession(model)
meta = sess.get_modelmeta().custom_metadata_map
las = lasio.read(well)                                            # sampled every strata.depth_step strata.depth_unit
logged = {c.mnemonic.upper(): c.data for c in las.curves}         # lasio upper-cases mnemonics
x = np.stack([logged[c.upper()] for c in meta["strata.curves"].split(", ")]).astype(np.float32)
prob = sess.run(None, {"curves": x[None]})[0][0]                  # (classes, samples); NaN filled as predict fills them
codes = np.array([int(c) for c in meta["strata.codes"].split(", ")])
las.append_curve("Predicted", codes[prob.argmax(0)], descr="facies code")
for code, p in zip(codes, prob):
    las.append_curve(f"P_{code}", p, descr=f"probability of facies {code}")
las.write(out, version=2.0)
