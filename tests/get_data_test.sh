#!/usr/bin/env bash
# scripts/get_data.sh from local copies (../shared/data; Debian's Fashion-MNIST when installed): every set laid
# out and checked, a damaged file refused with nothing installed, and the shipped configs finding their data under
# STRATA_DATA (every path they name exists; the well-log config trains an epoch from it).
#   tests/get_data_test.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src="$1" bin="$2"
data="${STRATA_DATA:-$src/../shared/data}"
if [[ ! -d "$data/welllogs" ]]; then echo "SKIPPED LOUDLY: $data is absent (set STRATA_DATA)"; exit 77; fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
"$src/scripts/get_data.sh" welllogs membrane camvid --from "$data" --to "$root/data"
if [[ -d /usr/share/datasets/fashion-mnist ]]; then
  "$src/scripts/get_data.sh" fashion-mnist --from /usr/share/datasets --to "$root/data"
fi
test "$(find "$root/data" -type f | wc -l)" -ge 1000

# A copy with one changed byte is refused and nothing is installed; a set already in place that checks out is
# left as it is.
mkdir -p "$root/bad/welllogs"
cp "$data/welllogs/"*.csv "$root/bad/welllogs/"
printf 'x' >> "$root/bad/welllogs/facies_vectors.csv"
if "$src/scripts/get_data.sh" welllogs --from "$root/bad" --to "$root/other" 2> "$root/err.txt"; then
  echo "FAIL: a damaged copy was installed"; exit 1
fi
grep -q "facies_vectors.csv: SHA-256 differs" "$root/err.txt"
test ! -e "$root/other/welllogs"
"$src/scripts/get_data.sh" welllogs --from "$root/bad" --to "$root/data" | grep -q "already in"
cmp "$root/data/welllogs/facies_vectors.csv" "$data/welllogs/facies_vectors.csv"

# Every data path of the shipped configs exists under the root.
export STRATA_DATA="$root/data"
for cfg in "$src"/configs/*.yaml; do
  for path in $(grep -o '\${STRATA_DATA}[^ ,}]*' "$cfg" | sed 's/^\${STRATA_DATA}//'); do
    [[ -e "$STRATA_DATA$path" ]] || { echo "FAIL: $cfg names \${STRATA_DATA}$path, absent"; exit 1; }
  done
done
"$bin/strata-welllog" train --config "$src/configs/welllog_seg2016.yaml" train.epochs=1 train.ensemble=1 \
  train.progress=false --out "$root/run" > "$root/train.txt" 2>&1 || { cat "$root/train.txt"; exit 1; }
grep -q "data/welllogs/facies_vectors.csv" "$root/run/config.yaml" && { echo "FAIL: config.yaml expanded the path"; exit 1; }
grep -q 'STRATA_DATA' "$root/run/config.yaml"
echo "get_data.sh: every set laid out and checked; the shipped configs read them from \$STRATA_DATA"
