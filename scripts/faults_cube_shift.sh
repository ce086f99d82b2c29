#!/usr/bin/env bash
# How a strata-faults checkpoint scores whole cubes, predicted as a survey is: labelled synthetic SEG-Y cubes
# (`generate --cubes`: 128 samples x 128 x 128 traces, 1-4 faults of any strike, test seed 2002) of the shipped
# config's generator, then of looks it was not trained on, each predicted on its inlines, on its crosslines, on
# both, and on all four directions (`--direction all`, predict's default: the diagonals too). Prints one row per
# look and direction: AP exact and within one sample, the mean over the cubes and its lowest and highest
# (docs/faults.md, "Whole cubes").
#   scripts/faults_cube_shift.sh runs/faults_synthetic/best.safetensors [CUBES (default 6)]
# DIRECTIONS="all" scores one direction setting only (default "inline crossline both all"); MIXED_PHASE=independent,
# shared or centred generates every look with that data.synthetic.mixed_phase in place of the shipped config's
# centred (independent: a mixed wavelet's blend can sit up to 3 samples off zero time, and its reflections and faults
# with it, off their labels; the other draws are the same); OVERRIDES="key=value ..." are given to every eval
# (scripts/faults_score_cubes.sh).
set -euo pipefail
[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 CHECKPOINT [CUBES]" >&2; exit 2; }
[[ -f $1 ]] || { echo "faults_cube_shift: $1: no such checkpoint" >&2; exit 1; }
ckpt=$(realpath "$1")  # before the cd, so a path relative to the caller's folder works
cubes=${2:-6}
cd "$(dirname "$0")/.."
bin=build/bin/strata-faults
[[ -x "$bin" ]] || { echo "faults_cube_shift: $bin not found; build first" >&2; exit 1; }
phase=()
case ${MIXED_PHASE:-} in
  "") ;;
  independent | shared | centred) phase=("data.synthetic.mixed_phase=$MIXED_PHASE") ;;
  *) echo "faults_cube_shift: MIXED_PHASE is independent, shared or centred, not '$MIXED_PHASE'" >&2; exit 2 ;;
esac
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
looks=(
  "shipped generator|"
  "varied look (Ormsby / Morlet wavelets, dense reflectivity, varying reflectors, listric, zones, truncated, SNR 1-10)|data.synthetic.wavelets=[ricker,ormsby,morlet] data.synthetic.dense_reflectivity=0.3 data.synthetic.reflector_variation=[0,0.5] data.synthetic.listric=0.3 data.synthetic.fault_zone=[0,3] data.synthetic.truncated=0.3 data.synthetic.snr=[1,10]"
  "noisy (SNR 0.7-1.5, smoothed noise)|data.synthetic.snr=[0.7,1.5] data.synthetic.noise_smooth=[1,3]"
  "low frequency (period 18-30)|data.synthetic.period=[18,30]"
)
echo "| cubes | sections | AP exact | AP within 1 sample |"
echo "|---|---|---|---|"
for look in "${looks[@]}"; do
  name=${look%%|*}
  read -r -a keys <<< "${look#*|}"
  rm -rf "$out/cubes"
  if ! "$bin" generate --config configs/faults_synthetic.yaml --output "$out/cubes" --cubes "$cubes" \
       "data.synthetic.faults=[1,4]" "${keys[@]}" "${phase[@]}" > "$out/log.txt" 2>&1; then
    echo "faults_cube_shift: generate failed for '$name':" >&2
    cat "$out/log.txt" >&2
    exit 1
  fi
  for direction in ${DIRECTIONS:-inline crossline both all}; do
    cells=$(scripts/faults_score_cubes.sh "$ckpt" "$out/cubes" "$cubes" "$direction")  # a failure stops the script
    echo "| $name | $direction | $cells |"
  done
done
