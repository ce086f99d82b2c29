#!/usr/bin/env bash
# Runs on a GPU machine from the bundle scripts/gpu_bundle.sh makes
# (.gpu/run.sh unpacks it and runs this copy of the script from it, with
# STRATA_REPO the repository): the GPU tests, then the CUDA benchmarks.
#   bash .gpu/run.sh [REPEATS] [PARTS]     (default 10, tests,kernels,steps,welllog)
# PARTS picks what runs, comma-separated: tests, steps (training steps),
# kernels (bench_cuda), conv (bench_cuda's convolutions only), welllog; not in
# the default: profile (Nsight Compute on the native convolution kernels,
# profile.txt), step_profile (where the VGG16 U-Net step and the faults
# prediction spend their time on the GPU, step_profile.txt), graph (the CUDA
# graph tests, then steps captured as graphs against eager ones and PyTorch,
# graph_steps.jsonl; GRAPH_MODELS narrows them), apps (every app's
# shipped config trained, then predict or eval, each timed as a user runs it;
# bf16 runs of the membrane and faults configs, membrane and CamVid with
# train.cuda_graph (CamVid with 8 data workers, eager and graphed; faults_w8
# and faults_graph the same for faults, when APP_RUNS names them); apps.csv
# and apps.log; needs the bundle's apps and data: scripts/gpu_bundle.sh). STEP_MODELS,
# WELLLOG_RUNS and APP_RUNS narrow the steps, the well-log and the app runs
# (defaults below); CAMVID_EPOCHS (4) is how many CamVid epochs are timed.
# Results go to $OUT (or .gpu/out): device.txt, gpu_tests.log
# (the gpu-label suites), bench_cuda.jsonl, bench_cuda.err (every benchmark's
# stderr), train_step.jsonl (the reference U-Nets' training steps: strata on
# the GPU and on the machine's CPU cores, PyTorch on the GPU when its python3
# has CUDA), welllog.log and welllog_metrics.csv (configs/welllog_synthetic.yaml
# trained with train.device=cuda twice with cuDNN's convolutions, twice more with
# train.deterministic, twice with the native ones, once in bf16 and once on the
# CPU; whether each pair is identical), and the optional parts' files. Exits
# with the tests' status.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$here/out}"
repeats="${1:-10}"
parts=",${2:-tests,steps,kernels,welllog},"
want() { [[ "$parts" == *",$1,"* ]]; }
mkdir -p "$out"

# cuBLAS and cuDNN: the toolkit's, else the pip wheels next to PyTorch.
libs="$here/lib"
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do [ -d "$d" ] && libs="$libs:$d"; done
if command -v python3 >/dev/null; then
  for m in nvidia.cudnn nvidia.cublas nvidia.cuda_runtime; do
    d=$(python3 -c "import $m, os; print(os.path.join(list($m.__path__)[0], 'lib'))" 2>/dev/null) && libs="$libs:$d"
  done
fi
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

{
  echo "commit: $(cat "$here/commit.txt" 2>/dev/null)"
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
  "$here/strata-cuda-info" 2>&1
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
} > "$out/device.txt"
cat "$out/device.txt"

status=0
: > "$out/bench_cuda.err"
if want tests; then
  : > "$out/gpu_tests.log"
  for t in test_cuda_backend test_cuda_layers test_cuda_graph test_device_training test_graph_training; do
    [ -x "$here/$t" ] || continue
    timeout 240 "$here/$t" >> "$out/gpu_tests.log" 2>&1 || status=1
  done
  grep -E "^\[  (FAILED|PASSED|SKIPPED) |^U-Net|tests? from .* ran" "$out/gpu_tests.log"
  grep -B2 -A8 "Failure" "$out/gpu_tests.log" | head -n 80
fi

if want kernels || want conv; then
  only=sgemm,add,conv,batch_norm
  want kernels || only=conv
  timeout 240 "$here/bench_cuda" --repeats "$repeats" --only "$only" > "$out/bench_cuda.jsonl" 2>> "$out/bench_cuda.err"
  echo "bench_cuda: exit $?, $(wc -l < "$out/bench_cuda.jsonl") lines"
  cat "$out/bench_cuda.jsonl"
fi

# Nsight Compute's summary of the native convolution kernels (implicit GEMM; Winograd's transforms).
if want profile; then
  ncu_bin=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n 1)
  if [ -n "$ncu_bin" ]; then
    timeout 180 "$ncu_bin" --kernel-name regex:'conv_igemm|_transform_kernel' --launch-count 24 --section SpeedOfLight \
      --section Occupancy --section LaunchStats "$here/bench_cuda" --repeats 1 --only conv > "$out/profile.txt" 2>&1
    grep -E "conv_igemm_kernel|_transform_kernel|Duration|Compute \(SM\) Throughput|Memory Throughput|Achieved Occupancy|Registers Per" \
      "$out/profile.txt" | head -n 80
  else
    echo "profile: no ncu on this machine"
  fi
fi

repo="${STRATA_REPO:-$here/..}"
# The reference U-Nets' training steps (bench_train_step.cpp; torch_train_step.py, the identical PyTorch model).
if want steps; then
  : > "$out/train_step.jsonl"
  # strata five ways: cuDNN with searched algorithms (the default), cuDNN's heuristic choice, the native kernels
  # (implicit GEMM; Winograd for the 3x3 stride-1 convolutions), and the default in bf16 mixed precision.
  for m in ${STEP_MODELS:-unet2d faults unet_mobilenetv2 unet_vgg16 faults_predict}; do
    timeout 60 "$here/bench_train_step" "$m" "$repeats" cuda >> "$out/train_step.jsonl" 2>> "$out/bench_cuda.err"
    STRATA_CUDNN_ALGO=heuristic timeout 60 "$here/bench_train_step" "$m" "$repeats" cuda 2>> "$out/bench_cuda.err" |
      sed 's/^{"name": "\([^"]*\)"/{"name": "\1", "engine": "cudnn_heuristic"/' >> "$out/train_step.jsonl"
    STRATA_CONV_ENGINE=native timeout 60 "$here/bench_train_step" "$m" "$repeats" cuda 2>> "$out/bench_cuda.err" |
      sed 's/^{"name": "\([^"]*\)"/{"name": "\1", "engine": "native"/' >> "$out/train_step.jsonl"
    STRATA_CONV_ENGINE=native STRATA_NATIVE_CONV=winograd timeout 60 "$here/bench_train_step" "$m" "$repeats" cuda \
      2>> "$out/bench_cuda.err" |
      sed 's/^{"name": "\([^"]*\)"/{"name": "\1", "engine": "native_winograd"/' >> "$out/train_step.jsonl"
    STRATA_PRECISION=bf16 timeout 60 "$here/bench_train_step" "$m" "$repeats" cuda 2>> "$out/bench_cuda.err" |
      sed 's/^{"name": "\([^"]*\)"/{"name": "\1", "precision": "bf16"/' >> "$out/train_step.jsonl"
    if [ -f "$repo/benchmarks/torch_train_step.py" ] && python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
      timeout 90 python3 "$repo/benchmarks/torch_train_step.py" "$m" "$(nproc)" "$repeats" cuda >> "$out/train_step.jsonl" 2>> "$out/bench_cuda.err"
    fi
  done
  for m in unet2d faults; do
    timeout 60 "$here/bench_train_step" "$m" 3 cpu >> "$out/train_step.jsonl" 2>> "$out/bench_cuda.err"
  done
  cat "$out/train_step.jsonl"
fi

# Training steps and predictions captured as CUDA graphs (layers/graphed_step.h) against the same steps issued
# one kernel at a time, alternated (eager, graph, eager, graph), then PyTorch's eager step once; the graph test
# suite first. graph_steps.jsonl.
if want graph; then
  timeout 120 "$here/test_cuda_graph" > "$out/graph_tests.log" 2>&1 || status=1
  grep -E "^\[  (FAILED|PASSED|SKIPPED) |tests? from .* ran" "$out/graph_tests.log"
  : > "$out/graph_steps.jsonl"
  for m in ${GRAPH_MODELS:-unet_mobilenetv2 camvid_mobilenetv2 unet2d faults faults_predict unet_vgg16}; do
    for pass in 1 2; do
      timeout 60 "$here/bench_train_step" "$m" "$repeats" cuda >> "$out/graph_steps.jsonl" 2>> "$out/bench_cuda.err"
      timeout 60 "$here/bench_train_step" "$m" "$repeats" cuda graph >> "$out/graph_steps.jsonl" 2>> "$out/bench_cuda.err"
    done
    if [ -f "$repo/benchmarks/torch_train_step.py" ] && python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
      timeout 90 python3 "$repo/benchmarks/torch_train_step.py" "$m" "$(nproc)" "$repeats" cuda >> "$out/graph_steps.jsonl" 2>> "$out/bench_cuda.err"
    fi
  done
  cat "$out/graph_steps.jsonl"
  grep -i -E "graph|error" "$out/bench_cuda.err" | head -n 20
fi

if want step_profile; then
  for m in unet_vgg16 faults_predict; do
    echo "== $m" >> "$out/step_profile.txt"
    STRATA_PROFILE=1 timeout 60 "$here/bench_train_step" "$m" 5 cuda >> "$out/step_profile.txt" 2>&1
  done
  head -n 60 "$out/step_profile.txt"
fi

# The well-log app's reference config on the GPU and on the CPU: the loss curves must agree to float tolerance.
repo_abs="$(cd "$repo" && pwd)"
if want welllog && [ -x "$here/strata-welllog" ]; then
  : > "$out/welllog.log"
  # cuda / cuda_again: cuDNN's convolutions (the default); det / det_again: the same with train.deterministic;
  # native / native_again: STRATA_CONV_ENGINE=native; bf16: train.precision=bf16.
  runs="${WELLLOG_RUNS:-cuda cuda_again det det_again native native_again cpu bf16}"
  for d in $runs; do
    rm -rf "/tmp/welllog_$d"
    dev=${d%_again}
    engine=auto
    deterministic=false
    [ "$dev" = native ] && dev=cuda engine=native
    precision=fp32
    [ "$dev" = det ] && dev=cuda deterministic=true
    [ "$dev" = bf16 ] && dev=cuda precision=bf16
    TIMEFORMAT="welllog $d: %R s wall"
    { time (cd "$repo_abs" && STRATA_CONV_ENGINE=$engine timeout 240 "$here/strata-welllog" train \
      --config configs/welllog_synthetic.yaml --out "/tmp/welllog_$d" train.device=$dev train.deterministic=$deterministic train.precision=$precision train.progress=false); } \
      >> "$out/welllog.log" 2>&1
  done
  # Reproducibility: the same run twice on the GPU (metrics but the seconds column).
  for e in cuda det native; do
    [ -f "/tmp/welllog_$e/metrics.csv" ] && [ -f "/tmp/welllog_${e}_again/metrics.csv" ] || continue
    if cmp -s <(cut -d, -f1-6 "/tmp/welllog_$e/metrics.csv" 2>/dev/null) \
              <(cut -d, -f1-6 "/tmp/welllog_${e}_again/metrics.csv" 2>/dev/null); then
      echo "welllog $e twice: identical metrics" >> "$out/welllog.log"
    else
      echo "welllog $e twice: metrics differ" >> "$out/welllog.log"
    fi
  done
  for d in $runs; do
    [ -f "/tmp/welllog_$d/metrics.csv" ] && sed "s/^/$d,/" "/tmp/welllog_$d/metrics.csv"
  done > "$out/welllog_metrics.csv"
  grep -E "^welllog |trained|Error|error" "$out/welllog.log"
  cat "$out/welllog_metrics.csv"
fi
# Every app's shipped config on the GPU: train (its held-out figures are in apps.log), then predict, each timed
# as a user runs it (process start, data, the convolution search and the figures included). APP_RUNS picks the
# runs, in order; the bf16 runs repeat a config in mixed precision.
if want apps; then
  data="${STRATA_DATA:-$repo_abs/../shared/data}"
  device="${APP_DEVICE:-cuda}"  # APP_DEVICE=cpu and APP_OVERRIDES (keys for every train) check the runs
  overrides=${APP_OVERRIDES:-}  # on a machine without a GPU
  runs_dir=/tmp/strata-apps
  rm -rf "$runs_dir" && mkdir -p "$runs_dir"
  : > "$out/apps.log"
  echo "run,seconds,exit" > "$out/apps.csv"
  # timed NAME COMMAND...: runs COMMAND from the repository, logs it under NAME and appends its wall time.
  timed() {
    local name=$1 start end rc
    shift
    echo "== $name: $*" >> "$out/apps.log"
    start=$(date +%s.%N)
    (cd "$repo_abs" && STRATA_DATA="$data" timeout "${APP_TIMEOUT:-400}" "$@") >> "$out/apps.log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    echo "$name,$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }'),$rc" | tee -a "$out/apps.csv"
  }
  for r in ${APP_RUNS:-welllog faults membrane anomaly camvid membrane_bf16 faults_bf16 membrane_graph camvid_w8 camvid_graph}; do
    precision=fp32
    [[ "$r" == *_bf16 ]] && precision=bf16
    case "$r" in
      welllog)
        timed welllog_train "$here/strata-welllog" train --config configs/welllog_seg2016.yaml --out "$runs_dir/welllog" \
          train.device=$device train.progress=false $overrides
        timed welllog_predict "$here/strata-welllog" predict --checkpoint "$runs_dir/welllog/best.safetensors" \
          --input "$data/welllogs/validation_data_nofacies.csv" --output "$runs_dir/welllog_predicted.csv" --device $device ;;
      faults | faults_bf16 | faults_w8 | faults_graph)
        # faults_w8: 8 section generators; faults_graph: the same with the step replayed from a CUDA graph.
        extra=()
        [ "$r" = faults_w8 ] || [ "$r" = faults_graph ] && extra+=(data.workers=8)
        [ "$r" = faults_graph ] && extra+=(train.cuda_graph=true)
        timed "${r}_train" "$here/strata-faults" train --config configs/faults_synthetic.yaml --out "$runs_dir/$r" \
          train.device=$device train.precision=$precision train.progress=false ${extra[@]+"${extra[@]}"} $overrides
        if [ "$r" = faults ]; then
          timed faults_predict_f3 "$here/strata-faults" predict --checkpoint "$runs_dir/faults/best.safetensors" \
            --input "$data/seismic/segy/f3.sgy" --output "$runs_dir/f3_faults.sgy" --device $device
          (cd "$repo_abs" && "$here/strata-faults" generate --config configs/faults_synthetic.yaml --cubes 1 --output "$runs_dir/cube" >> "$out/apps.log" 2>&1)
          timed faults_predict_cube "$here/strata-faults" predict --checkpoint "$runs_dir/faults/best.safetensors" \
            --input "$runs_dir/cube/cube_0.sgy" --output "$runs_dir/cube_0_faults.sgy" --device $device
        fi ;;
      membrane | membrane_bf16 | membrane_graph)
        graph=false
        [ "$r" = membrane_graph ] && graph=true
        timed "${r}_train" "$here/strata-segment" train --config configs/segment_membrane.yaml --out "$runs_dir/$r" \
          train.device=$device train.precision=$precision train.cuda_graph=$graph train.progress=false $overrides
        [ "$r" = membrane ] && timed membrane_predict "$here/strata-segment" predict \
          --checkpoint "$runs_dir/membrane/best.safetensors" --input "$data/membrane/image" \
          --output "$runs_dir/membrane_masks" --device $device ;;
      anomaly)
        timed anomaly_train "$here/strata-anomaly" train --config configs/anomaly_fmnist_ae_transforms.yaml \
          --out "$runs_dir/anomaly" data.normal_class=7 train.device=$device train.progress=false $overrides
        timed anomaly_eval "$here/strata-anomaly" eval --checkpoint "$runs_dir/anomaly/best.safetensors" \
          --out "$runs_dir/anomaly_eval" --device $device ;;
      camvid | camvid_w8 | camvid_graph)
        # CamVid's epochs from the bundle's sample: its frames linked or copied under new names as many times as
        # the full lists name frames, so an epoch is as long as the full set's; 120 epochs take 120 times one.
        # camvid_w8: 8 augmentation threads; camvid_graph: the same with the step replayed from a CUDA graph.
        cv="$runs_dir/camvid_data"
        extra=()
        [ "$r" != camvid ] && extra+=(data.workers=8)
        [ "$r" = camvid_graph ] && extra+=(train.cuda_graph=true)
        [ -f "$cv/val.txt" ] || for list in train val; do
          mkdir -p "$cv/$list" "$cv/${list}annot"
          mapfile -t frames < "$data/camvid/$list.txt"
          for ((i = 0; i < $(cat "$data/camvid/$list.count"); ++i)); do
            read -r img ann <<< "${frames[i % ${#frames[@]}]}"
            for f in "$img" "$ann"; do  # a hard link (the app reads a symbolic link as its target), else a copy
              ln "$data/camvid/$f" "$cv/${f%%/*}/${i}_${f#*/}" 2>/dev/null || cp "$data/camvid/$f" "$cv/${f%%/*}/${i}_${f#*/}"
            done
            echo "$list/${i}_${img#*/} ${list}annot/${i}_${ann#*/}"
          done > "$cv/$list.txt"
        done
        epochs="${CAMVID_EPOCHS:-4}"
        timed "${r}_train_${epochs}_epochs" "$here/strata-segment" train --config configs/segment_camvid.yaml \
          --out "$runs_dir/$r" data.train_list="$cv/train.txt" data.val_list="$cv/val.txt" train.device=$device \
          train.progress=false train.epochs="$epochs" "train.panel_epochs=[]" ${extra[@]+"${extra[@]}"} $overrides
        [ "$r" = camvid ] && timed camvid_predict "$here/strata-segment" predict \
          --checkpoint "$runs_dir/camvid/best.safetensors" --input "$cv/val" --output "$runs_dir/camvid_masks" \
          --device $device ;;
      *) echo "apps: unknown run '$r'" >> "$out/apps.log" ;;
    esac
  done
  grep -E "^== |[Tt]est|held-out|AP|AUROC|F1|IoU|accuracy|[Ee]rror" "$out/apps.log" | head -n 150
fi
exit $status
