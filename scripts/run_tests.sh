#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script):
# installs dependencies (with python3-torch, so the PyTorch-reading tests run
# instead of skipping, and .venv with onnxruntime for the ONNX export's parity
# test), then three builds (all cores):
#   build/       Release; with nvcc present it also compiles the CUDA sources
#                for sm_80 and sm_90 (compile and link check, no GPU run)
#   build-emu/   the CUDA emulator build, which runs the kernels in kernels/cuda
#                and tests/*.cu on the CPU (ctest label cuda_emu)
#   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer (STRATA_SANITIZE):
#                only the suites labelled `sanitize` (core, layer, app and
#                hostile-input tests) and the apps they run are built and run
#                (at -O1 throughout: CMakeLists.txt)
# and runs their tests. Tests labelled `data` skip with a message when
# ../shared/data is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install_deps.sh --torch --onnx
if [[ -z "${CUDACXX:-}" && -x /usr/local/cuda/bin/nvcc ]]; then export CUDACXX=/usr/local/cuda/bin/nvcc; fi
jobs="$(nproc)"

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
cmake -S . -B build-emu -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRATA_CUDA_EMU=ON -DSTRATA_BENCHMARKS=OFF -DSTRATA_MPI=OFF
# Only the emulator's suites: the apps and the other suites are built and tested by the Release build.
cmake --build build-emu -j "$jobs" --target test_emu test_cuda_runtime test_cuda_backend test_cuda_layers test_cuda_graph test_device_training test_graph_training
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRATA_SANITIZE=ON -DSTRATA_CUDA=OFF -DSTRATA_MPI=OFF \
  -DSTRATA_BENCHMARKS=OFF
cmake --build build-asan -j "$jobs" --target test_tensor test_ops test_thread_pool test_pooling test_conv_depthwise test_conv_pointwise test_autograd test_layers test_trainer \
  test_driver test_plot test_welllog test_segment test_anomaly test_faults test_opendtect test_hostile_inputs test_graph_training \
  strata-welllog strata-segment strata-anomaly strata-faults

# ctest runs $jobs tests at once and each uses every core, so the cores are oversubscribed. The CPU kernels'
# thread pool gives a shared core back quickly by itself; the CUDA emulator schedules its blocks with OpenMP,
# whose threads spin-wait at each barrier by default, so its waiting is made passive here.
export OMP_WAIT_POLICY=PASSIVE
ctest --test-dir build --output-on-failure -j "$jobs"
ctest --test-dir build-emu --output-on-failure -j "$jobs" -L cuda_emu
# Leak checking on. The long training-quality tests are left to the Release run: under the sanitizers they
# take 55-350 s each and add no code path the others do not run (training, eval, predict of the apps are in
# App.*, SegmentApp.Overfits*, AnomalyApp.TinyFolderSetEndToEnd, FaultsApp.TrainEval*).
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -L sanitize \
  -E "SupervisedTrainingLearnsSyntheticShapes|MembraneConfigRunsReduced|CamvidConfigRunsReduced|Seg2016HeldOutWellsBeatChance|ShippedConfigRunsReduced|FashionMnistConfigRunsReduced"
