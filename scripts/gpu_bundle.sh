#!/usr/bin/env bash
# Packs strata's GPU tests and CUDA benchmarks, built here with nvcc, into .gpu/ (ignored by git) for a GPU
# machine that has the CUDA runtime, cuBLAS and cuDNN (e.g. PyTorch's pip wheels) but none of strata's build
# dependencies; copy .gpu/ there and run it:
#
#   scripts/gpu_bundle.sh [BUILD_DIR] [APPS] [DATA]   # default build-gpu (STRATA_CUDA=ON, sm_90), welllog, none
#
# APPS: the apps to include, comma-separated (welllog, segment, faults, anomaly). The binaries travel as one xz
# archive whose dictionary spans them all, so the CUDA kernels every binary carries are stored about once.
# DATA: sets copied from $STRATA_DATA (default ../shared/data) into .gpu/data for the `apps` part of run.sh:
# welllogs, membrane, seismic (f3.sgy), camvid-sample (16 training and 4 validation frames, and the full lists'
# lengths, so that run.sh makes epochs of CamVid's length from them), fashion-mnist (from $STRATA_DATA or Debian's
# /usr/share/datasets), fashion-mnist-7 (the same, with a training file of every class-7 image and 300 of each
# other class: the quick start's normal class trains on as many images in a third of the size). The bundle
# travels with the repository under a 64 MiB limit, so take what a run needs.
#   on the GPU machine:  bash .gpu/run.sh [REPEATS] [PARTS]
#
# run.sh writes gpu_tests.xml, gpu_tests.log, bench_cuda.jsonl and device.txt
# to $OUT (or .gpu/out without one). Binaries need glibc >= 2.34; libstdc++
# and libgomp travel with them.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-gpu}"
apps="${2:-welllog}"
data_sets="${3:-}"
data_root="${STRATA_DATA:-../shared/data}"
targets=(test_cuda_backend test_cuda_layers test_cuda_graph test_device_training test_graph_training bench_cuda bench_train_step
  strata-cuda-info)
for app in ${apps//,/ }; do
  case "$app" in
    welllog | segment | faults | anomaly) targets+=("strata-$app") ;;
    *) echo "gpu_bundle: unknown app '$app': expected welllog, segment, faults or anomaly" >&2; exit 2 ;;
  esac
done

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRATA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DSTRATA_BENCHMARKS=ON -DSTRATA_MPI=OFF
fi
grep -q '^STRATA_CUDA:BOOL=ON' "$build/CMakeCache.txt" ||
  { echo "gpu_bundle: $build is not a CUDA build (STRATA_CUDA=OFF)" >&2; exit 1; }
cmake --build "$build" --target "${targets[@]}"

# The binaries carry the CUDA kernels (about 11 MB each): they travel as one xz archive with a dictionary larger
# than a binary, so the repeated kernels compress to almost nothing; .gpu/run.sh unpacks it into /tmp/strata-gpu
# on the GPU machine.
rm -rf .gpu
stage=.gpu/stage
mkdir -p "$stage/lib"
for t in "${targets[@]}"; do strip -o "$stage/$t" "$build/bin/$t"; done
# Every shared library the binaries take from this machine's system folders, except glibc's own (the device's
# is newer) and CUDA's (the device has its own runtime, cuBLAS and cuDNN).
for t in "${targets[@]}"; do ldd "$build/bin/$t"; done | awk '$2 == "=>" && $3 ~ /^\/(usr\/)?lib/ { print $1, $3 }' |
  grep -Ev '^(libc|libm|libdl|libpthread|librt|ld-linux[^ ]*)\.so|^libcu|^libcudnn' | sort -u |
  while read -r name path; do cp -L "$path" "$stage/lib/$name"; done
src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
git -C "$src" rev-parse --short HEAD > "$stage/commit.txt"  # the sources the binaries were built from
cp scripts/gpu_run.sh "$stage/gpu_run.sh"
tar -cf - -C "$stage" . | xz -9e -T2 > .gpu/bundle.txz
rm -rf "$stage"

# Data for the apps' runs. Fashion-MNIST: $STRATA_DATA's copy, else Debian's.
fm="$data_root/fashion-mnist"
[ -d "$fm" ] || fm=/usr/share/datasets/fashion-mnist
for set in ${data_sets//,/ }; do
  case "$set" in
    welllogs) mkdir -p .gpu/data/welllogs && cp "$data_root"/welllogs/*.csv .gpu/data/welllogs/ ;;
    membrane) mkdir -p .gpu/data && cp -r "$data_root/membrane" .gpu/data/ ;;
    seismic) mkdir -p .gpu/data/seismic/segy && cp "$data_root/seismic/segy/f3.sgy" .gpu/data/seismic/segy/ ;;
    fashion-mnist)
      mkdir -p .gpu/data/fashion-mnist && cp "$fm"/*.gz .gpu/data/fashion-mnist/ ;;
    fashion-mnist-7)
      mkdir -p .gpu/data/fashion-mnist && cp "$fm"/t10k-*.gz .gpu/data/fashion-mnist/
      python3 - "$fm" .gpu/data/fashion-mnist <<'PY'
import gzip, struct, sys
src, dst = sys.argv[1], sys.argv[2]
def read(name):
    with gzip.open(f"{src}/{name}") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return data[:4], shape, data[4 + 4 * dims:]
magic_i, shape_i, images = read("train-images-idx3-ubyte.gz")
magic_l, shape_l, labels = read("train-labels-idx1-ubyte.gz")
size = shape_i[1] * shape_i[2]
seen, keep = {}, []
for i, c in enumerate(labels):
    seen[c] = seen.get(c, 0) + 1
    if c == 7 or seen[c] <= 300:
        keep.append(i)
def write(name, magic, shape, body):
    with gzip.open(f"{dst}/{name}", "wb", compresslevel=9) as f:
        f.write(magic + struct.pack(">" + "I" * len(shape), *shape) + body)
write("train-images-idx3-ubyte.gz", magic_i, (len(keep), shape_i[1], shape_i[2]),
      b"".join(images[i * size:(i + 1) * size] for i in keep))
write("train-labels-idx1-ubyte.gz", magic_l, (len(keep),), bytes(labels[i] for i in keep))
PY
      ;;
    camvid-sample)
      cv=.gpu/data/camvid
      mkdir -p "$cv"/{train,trainannot,val,valannot}
      # $1: the full list, $2: how many of its frames to copy (spread over the list); $1's length goes to
      # ${1%.txt}.count, so that run.sh can list the frames as often as the full list names frames.
      sample() {
        local pick
        pick=$(awk -v k="$2" '{ line[NR] = $0 } END { for (i = 0; i < k; ++i) print line[int((i + 0.5) * NR / k) + 1] }' "$data_root/camvid/$1")
        while read -r img ann; do cp "$data_root/camvid/$img" "$cv/$img"; cp "$data_root/camvid/$ann" "$cv/$ann"; done <<< "$pick"
        echo "$pick" > "$cv/$1"
        wc -l < "$data_root/camvid/$1" > "$cv/${1%.txt}.count"
      }
      sample train.txt 16
      sample val.txt 4 ;;
    *) echo "gpu_bundle: unknown data set '$set'" >&2; exit 2 ;;
  esac
done

cat > .gpu/run.sh <<'LAUNCH'
#!/usr/bin/env bash
# Unpacks the bundle and runs scripts/gpu_run.sh from it, with the repository (the parent of .gpu) beside it and
# the bundle's data, if any, as STRATA_DATA.
here="$(cd "$(dirname "$0")" && pwd)"
rm -rf /tmp/strata-gpu && mkdir -p /tmp/strata-gpu || exit 1
python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$here/bundle.txz" /tmp/strata-gpu || exit 1
[ -d "$here/data" ] && export STRATA_DATA="$here/data"
STRATA_REPO="$(cd "$here/.." && pwd)" exec bash /tmp/strata-gpu/gpu_run.sh "$@"
LAUNCH
du -sh .gpu
echo "gpu_bundle: .gpu ready ($(xz -dc .gpu/bundle.txz | tar -xOf - ./commit.txt)); on the device: bash .gpu/run.sh, carry [\".gpu\"]"
