#!/usr/bin/env bash
# How a strata-faults checkpoint scores cubes of a second, separately written generator
# (scripts/faults_second_generator.py: other earth model, folding, fault shapes, wavelet and noise): CUBES labelled
# 128^3 cubes, each predicted on all four directions (predict's default) and on inlines and crosslines, printed as
# the mean AP exact and within one sample over the cubes, lowest-highest (docs/faults.md, "Results").
#   scripts/faults_second_generator.sh runs/faults_synthetic/best.safetensors [CUBES (default 6)] [SEED (default 7)]
# DIRECTIONS="all" scores one direction setting only (default "all both"); REFLECTION=below writes the cubes with
# each reflection on the sample below its boundary (faults half a sample below their labels); GENERATOR=third scores
# the cubes of scripts/faults_third_generator.py instead (sparse reflectivity, throws of 5-30 samples, heavy noise,
# clipped amplitudes; SEED defaults to 11 there; THIRD_OPTIONS="--no-clip --snr-db=12,20" passes its options).
# OVERRIDES="key=value ..." are given to every eval (scripts/faults_score_cubes.sh).
# Needs numpy (.venv or the system's).
set -euo pipefail
[[ $# -ge 1 && $# -le 3 ]] || { echo "usage: $0 CHECKPOINT [CUBES] [SEED]" >&2; exit 2; }
[[ -f $1 ]] || { echo "faults_second_generator: $1: no such checkpoint" >&2; exit 1; }
ckpt=$(realpath "$1")
cubes=${2:-6}
seed=${3:-}
cd "$(dirname "$0")/.."
bin=build/bin/strata-faults
[[ -x "$bin" ]] || { echo "faults_second_generator: $bin not found; build first" >&2; exit 1; }
python=python3
[[ -x .venv/bin/python ]] && python=.venv/bin/python
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=()
case ${REFLECTION:-centred} in
  centred) ;;
  below) flags=(--below) ;;
  *) echo "faults_second_generator: REFLECTION is centred or below, not '$REFLECTION'" >&2; exit 2 ;;
esac
case ${GENERATOR:-second} in
  second) "$python" scripts/faults_second_generator.py "${flags[@]}" "$out/cubes" "$cubes" "${seed:-7}" > /dev/null ;;
  third)
    [[ ${#flags[@]} -eq 0 ]] || { echo "faults_second_generator: REFLECTION applies to the second generator" >&2; exit 2; }
    # THIRD_OPTIONS: the third generator's options (--throws=LO,HI --snr-db=LO,HI --no-clip), space-separated.
    read -r -a third <<< "${THIRD_OPTIONS:-}"
    "$python" scripts/faults_third_generator.py "${third[@]}" "$out/cubes" "$cubes" "${seed:-11}" > /dev/null ;;
  *) echo "faults_second_generator: GENERATOR is second or third, not '$GENERATOR'" >&2; exit 2 ;;
esac
echo "| sections | AP exact | AP within 1 sample |"
echo "|---|---|---|"
for direction in ${DIRECTIONS:-all both}; do
  cells=$(scripts/faults_score_cubes.sh "$ckpt" "$out/cubes" "$cubes" "$direction")  # a failure stops the script
  echo "| $direction | $cells |"
done
