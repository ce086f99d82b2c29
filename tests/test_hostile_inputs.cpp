// Hostile input, the shared table of every app.
//
// Each row runs an app's real binary the way a user would, in a fresh folder:
// `setup` (shell) prepares files, then `APP args` runs with stdout + stderr
// captured in out.txt. The row asserts the exit code (2 for a command line that
// does not fit the command, 1 for every other error), words of the message,
// that nothing aborted (no "terminate called", no signal) and, with `check`,
// a shell test of what is left on disk afterwards (a FIFO still a FIFO, a
// finished run untouched).
//
// Variables the rows use (exported to the shell):
//   $BIN      build/bin            $SRC   the source tree
//   $CFG      a small synthetic strata-welllog config (2 epochs, seconds)
//   $CKPT     a strata-welllog checkpoint trained from $CFG once per run
//   $WELL     a CSV well of 300 samples at 0.5 ft written by `well_csv`
//   $SEG_CFG, $SEG_CKPT   a tiny strata-segment config (disks on 32 x 32 images) and its checkpoint;
//             $SEG_MODEL its run folder
//   $SEG_SET  its data: images/ and masks/ (8 PNG pairs); $SEG_SMALL a 16 x 16 PNG
//   $AN_CFG, $AN_CKPT, $AN_LAST   a tiny strata-anomaly config (folders of 16 x 16 stripes, squares as
//             anomalies), its finished checkpoint and a last.safetensors (no threshold in it)
//   $AN_SET   its data: train/normal, {val,test}/{normal,anomalous} (tests/anomaly_set.h)
//   $FT_CFG, $FT_CKPT   a tiny strata-faults config (32 x 32 synthetic sections) and its checkpoint
//   $FT_SGY, $FT_PS     a 4 x 6 trace post-stack SEG-Y and a pre-stack one (tests/segy_fixture.h)
//   $FT_BIG             a 48 x 64 trace post-stack SEG-Y of 256 samples (seconds to predict)
// A new app adds its rows (and, if it needs one, its own checkpoint in
// SetUpTestSuite) to kCases: one row per kind of hostile input at least.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "apps/common/image_io.h"
#include "tests/anomaly_set.h"
#include "tests/segment_set.h"
#include "tests/segy_fixture.h"
#include "tests/tiny_configs.h"

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

struct HostileCase {
  const char* name;  // test name: letters, digits, _
  const char* app;
  const char* setup;  // shell, run in the case's folder first
  const char* args;   // the app's arguments (shell words)
  int exit_code;
  std::vector<const char*> words;  // each must appear in the output
  const char* check = "";          // shell test run afterwards; must succeed
};

// Shell helpers available to every setup and check.
const char* kHelpers = R"SH(
well_csv() {  # well_csv FILE [ROWS]: one well, depth increasing, GR a smooth curve
  awk -v n="${2:-300}" 'BEGIN { print "Well Name,Depth,GR";
    for (i = 0; i < n; i++) printf "W,%.1f,%.3f\n", 1000 + 0.5 * i, 70 + 40 * sin(i / 9.0) }' > "$1"; }
las_bottom_up() {  # las_bottom_up FILE: the same well as LAS 2.0, listed bottom-up (STEP negative)
  { printf '~VERSION INFORMATION\n VERS.  2.0 : CWLS LOG ASCII STANDARD 2.0\n WRAP.  NO : ONE LINE PER STEP\n'
    printf '~WELL INFORMATION\n STRT.FT 1149.5 : START\n STOP.FT 1000.0 : STOP\n STEP.FT -0.5 : STEP\n'
    printf ' NULL. -999.25 : NULL\n WELL. W : WELL\n~CURVE INFORMATION\n DEPT.FT : DEPTH\n GR.GAPI : GAMMA RAY\n~A\n'
    awk 'BEGIN { for (i = 299; i >= 0; i--) printf "%.1f %.3f\n", 1000 + 0.5 * i, 70 + 40 * sin(i / 9.0) }'; } > "$1"; }
npy_f4() {  # npy_f4 FILE SHAPE [VALUE]: a float32 .npy of SHAPE (a Python tuple) filled with VALUE (default 0.5)
  python3 - "$@" <<'PY'
import math, struct, sys
path, shape = sys.argv[1], eval(sys.argv[2])
value = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
n = math.prod(shape)
header = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % (shape,)
header += ' ' * ((64 - (10 + len(header) + 1) % 64) % 64) + '\n'
body = struct.pack('<%df' % n, *([value] * n))
open(path, 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(header)) + header.encode() + body)
PY
}
npy_header() {  # npy_header FILE DICT BYTES: a .npy whose header dict is DICT, followed by BYTES zero bytes
  python3 - "$@" <<'PY'
import struct, sys
header = sys.argv[2] + '\n'
open(sys.argv[1], 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(header)) + header.encode() +
                              bytes(int(sys.argv[3])))
PY
}
png_disk() {  # png_disk FILE I VALUE [palette]: the 32 x 32 disk mask I of the segment set, VALUE inside; with
              # palette: an indexed-colour PNG (index 0 black, index VALUE red)
  python3 - "$@" <<'PY'
import struct, sys, zlib
path, i, value = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
palette = len(sys.argv) > 4
rows = b''.join(b'\0' + bytes(value if (y - 12 - i) ** 2 + (x - 16) ** 2 < 36 else 0 for x in range(32))
                for y in range(32))
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 32, 32, 8, 3 if palette else 0, 0, 0, 0))
if palette:
    png += chunk(b'PLTE', bytes([0, 0, 0] + [255, 0, 0] * value))
open(path, 'wb').write(png + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
PY
}
png_zeros() {  # png_zeros FILE W H: an 8-bit grey PNG of zeros (a few hundred KB for 16000 x 16000)
  python3 - "$@" <<'PY'
import struct, sys, zlib
path, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
c = zlib.compressobj(9)
z = b''.join(c.compress(bytes(w + 1)) for _ in range(h)) + c.flush()
open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) +
                       chunk(b'IDAT', z) + chunk(b'IEND', b''))
PY
}
segy_diagonal() {  # segy_diagonal FILE: renumber the traces of a SEG-Y as a diagonal line (inline +1, crossline +2)
  python3 - "$1" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
size = 240 + 4 * struct.unpack('>H', b[3220:3222])[0]
for i in range((len(b) - 3600) // size):
    o = 3600 + i * size
    b[o + 188:o + 196] = struct.pack('>ii', 10 + i, 200 + 2 * i)
open(sys.argv[1], 'wb').write(b)
PY
}
segy_noise() {  # segy_noise FILE OUT: FILE (IEEE float samples) with every sample replaced by uniform noise
  python3 - "$@" <<'PY'
import random, struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
samples = struct.unpack('>H', b[3220:3222])[0]
size = 240 + 4 * samples
random.seed(1)
for i in range((len(b) - 3600) // size):
    o = 3600 + i * size + 240
    b[o:o + 4 * samples] = struct.pack('>%df' % samples, *[random.uniform(-1, 1) for _ in range(samples)])
open(sys.argv[2], 'wb').write(b)
PY
}
seis_info() {  # seis_info FILE NRINL NRCRL NRTRACES: an OpendTect SeisInfo block (one input, one output)
  python3 -c "import struct, sys; open(sys.argv[1], 'wb').write(struct.pack('<5i5f', int(sys.argv[4]), 1, 1,
    int(sys.argv[2]), int(sys.argv[3]), 0.004, 25, 25, 1, 1))" "$@"; }
)SH";

// gtest prints a failing row by its command line.
void PrintTo(const HostileCase& c, std::ostream* os) { *os << c.app << " " << c.args; }

const std::vector<HostileCase> kCases = {
    // ---- strata-welllog ---------------------------------------------------------------------------------------
    // 1. filesystem errors, malformed checkpoint metadata, impossible sizes: an error, never `terminate called`
    {"welllog_output_is_a_directory", "strata-welllog", "mkdir outdir", "predict --checkpoint $CKPT --input $WELL "
     "--output outdir", 1, {"outdir: is a directory"}, "test -d outdir"},
    {"welllog_output_parent_is_a_file", "strata-welllog", "touch f", "predict --checkpoint $CKPT --input $WELL "
     "--output f/p.csv", 1, {"f: is a file, not a folder"}},
    {"welllog_checkpoint_of_another_app", "strata-welllog", "", "predict --checkpoint $SEG_CKPT --input $WELL "
     "--output p.csv", 1, {"a strata-segment checkpoint, not a strata-welllog one (run it with strata-segment)"}},
    {"welllog_run_folder_under_a_file", "strata-welllog", "touch f", "train --config $CFG --out f/run", 1,
     {"f is a file, not a folder"}},
    {"welllog_run_folder_cannot_be_created", "strata-welllog", "", "train --config $CFG --out /proc/strata_run", 1,
     {"/proc/strata_run: cannot create the folder"}},
    {"welllog_checkpoint_entry_not_a_number", "strata-welllog",
     "cp $CKPT ck.safetensors && LC_ALL=C sed -i 's/\"welllog.depth_step\":\"0/\"welllog.depth_step\":\"z/' "
     "ck.safetensors", "predict --checkpoint ck.safetensors --input $WELL --output p.csv", 1,
     {"ck.safetensors: entry 'welllog.depth_step' is not a number: 'z"}},
    {"welllog_resume_entry_not_a_number", "strata-welllog",
     "cp $CKPT ck.safetensors && LC_ALL=C sed -i 's/\"trainer.best\":\"0/\"trainer.best\":\"q/' ck.safetensors",
     "train --config $CFG --resume ck.safetensors --out run", 1, {"entry 'trainer.best' is not a number"}},
    {"welllog_impossible_resampling", "strata-welllog", "printf 'Well Name,Depth,GR\\nW,0,50\\nW,1e12,60\\n' > w.csv",
     "predict --checkpoint $CKPT --input w.csv --output p.csv", 1, {"well 'W'", "over 50 million"}},
    // 2. order of the input: bottom-up wells are sorted and predicted as the same well top-down
    {"welllog_repeated_depths_are_named", "strata-welllog", "well_csv w.csv && sed -n 3,4p w.csv >> w.csv",
     "predict --checkpoint $CKPT --input w.csv --output p.csv", 0,
     {"warning: w.csv: well 'W' lists 2 depths again (first: 1000.5)", "remove the repeated rows if they are copies"},
     "test $(wc -l < p.csv) = 303"},
    {"welllog_bottom_up_csv_predicts_like_top_down", "strata-welllog",
     "well_csv top.csv && { head -1 top.csv; tail -n +2 top.csv | tac; } > bottom.csv && "
     "$BIN/strata-welllog predict --checkpoint $CKPT --input top.csv --output top_pred.csv",
     "predict --checkpoint $CKPT --input bottom.csv --output bottom_pred.csv", 0,
     {"bottom.csv: well 'W' is listed bottom-up", "increasing depth"},
     "diff <(tail -n +2 top_pred.csv | sort) <(tail -n +2 bottom_pred.csv | sort) && "
     "test \"$(sed -n 2p bottom_pred.csv | cut -d, -f2)\" = 1149.5"},
    {"welllog_negative_step_las_predicts_like_top_down", "strata-welllog",
     "well_csv top.csv && las_bottom_up w.las && "
     "$BIN/strata-welllog predict --checkpoint $CKPT --input top.csv --output top_pred.csv",
     "predict --checkpoint $CKPT --input w.las --output las_pred.csv", 0, {"listed bottom-up"},
     "diff <(tail -n +2 top_pred.csv | awk -F, '{printf \"%.1f %s\\n\", $2, $4}' | sort) "
     "<(tail -n +2 las_pred.csv | awk -F, '{printf \"%.1f %s\\n\", $1, $3}' | sort)"},
    // 3. one bad value: an error naming file:line and column, or missing under an explicit policy
    {"welllog_bad_cell_names_line_and_column", "strata-welllog", "well_csv w.csv && sed -i '50s/,[^,]*$/,abc/' w.csv",
     "predict --checkpoint $CKPT --input w.csv --output p.csv", 1,
     {"w.csv:50: column 'GR' value 'abc' is not a number", "data.bad_values=missing"}, "test ! -e p.csv"},
    {"welllog_bad_cell_as_missing_under_policy", "strata-welllog",
     "well_csv w.csv && sed -i '50s/,[^,]*$/,abc/' w.csv",
     "predict --checkpoint $CKPT --input w.csv --output p.csv data.bad_values=missing", 0,
     {"warning: w.csv:50: column 'GR'", "read as missing"}, "test $(wc -l < p.csv) -eq 301"},
    {"welllog_sentinel_values_are_flagged", "strata-welllog", "well_csv w.csv && sed -i '80s/,[^,]*$/,1e38/' w.csv",
     "predict --checkpoint $CKPT --input w.csv --output p.csv", 0,
     {"curve 'GR': 1 value more than 100 standard deviations", "1e+38"}},
    {"welllog_duplicate_csv_column", "strata-welllog", "well_csv w.csv && sed -i '1s/$/,GR/; 2,$s/$/,1/' w.csv",
     "predict --checkpoint $CKPT --input w.csv --output p.csv", 1, {"column 'GR' appears twice"}},
    {"welllog_duplicate_las_curve", "strata-welllog",
     "las_bottom_up w.las && sed -i 's/^ GR.GAPI : GAMMA RAY$/ GR.GAPI : GAMMA RAY\\n GR.GAPI : AGAIN/' w.las && "
     "sed -i '/^[0-9]/s/$/ 1/' w.las", "predict --checkpoint $CKPT --input w.las --output p.csv", 1,
     {"curve 'GR' is defined twice"}},
    {"welllog_well_without_values_of_the_curve", "strata-welllog", "well_csv w.csv && sed -i '2,$s/,[^,]*$/,/' w.csv",
     "predict --checkpoint $CKPT --input w.csv --output p.csv", 1,
     {"well 'W' has no value in any of the model's curves (GR); it has no numeric curve",
      "with data.curve_map (docs/welllog.md), e.g. 'data.curve_map={GR: YOUR_GR}'"}},
    // 4. command line and config
    {"welllog_predict_override_it_does_not_read", "strata-welllog", "well_csv w.csv",
     "predict --checkpoint $CKPT --input w.csv --output p.csv train.epochs=3", 2,
     {"predict does not use the key train.epochs"}, "test ! -e p.csv"},
    {"welllog_eval_override_typo", "strata-welllog", "", "eval --checkpoint $CKPT inference.windw=3", 2,
     {"eval does not use the key inference.windw"}},
    {"welllog_eval_rejects_input_flag", "strata-welllog", "well_csv w.csv", "eval --checkpoint $CKPT --input w.csv", 2,
     {"'--input' is not a flag of eval (it belongs to: predict)"}},
    {"welllog_empty_override_value", "strata-welllog", "", "train --config $CFG --out run train.epochs=", 2,
     {"train.epochs=': empty value"}, "test ! -e run"},
    {"welllog_duplicate_yaml_key", "strata-welllog", "cp $CFG c.yaml && printf 'train: {epochs: 1}\\n' >> c.yaml",
     "train --config c.yaml --out run", 1, {"c.yaml: train: the key appears twice"}},
    {"welllog_error_names_the_key_written", "strata-welllog", "", "train --config $CFG --out run train.mode=bogus", 1,
     {"train.mode: 'bogus' is not one of"}},
    {"welllog_open_bound_printed_as_such", "strata-welllog", "",
     "train --config $CFG --out run train.labelled_fraction=0", 1, {"train.labelled_fraction", "in (0, 1]"}},
    {"welllog_help", "strata-welllog", "", "--help", 0, {"usage:", "strata-welllog predict", "docs/welllog.md"}},
    {"welllog_h", "strata-welllog", "", "-h", 0, {"usage:", "strata-welllog train"}},
    {"welllog_command_help", "strata-welllog", "", "predict --help", 0, {"--output PATH", "(required)"}},
    // 5. never destroy what is at the output path
    {"welllog_output_fifo_is_refused", "strata-welllog", "well_csv w.csv && mkfifo out.csv",
     "predict --checkpoint $CKPT --input w.csv --output out.csv", 1, {"out.csv: is a FIFO"}, "test -p out.csv"},
    {"welllog_output_device_is_refused", "strata-welllog", "well_csv w.csv",
     "predict --checkpoint $CKPT --input w.csv --output /dev/full", 1, {"/dev/full: is a character device"},
     "test -c /dev/full"},
    {"welllog_output_symlink_is_written_through", "strata-welllog", "well_csv w.csv && touch real.csv && "
     "ln -s real.csv link.csv", "predict --checkpoint $CKPT --input w.csv --output link.csv", 0, {"wrote link.csv"},
     "test -L link.csv && grep -q Predicted real.csv"},
    {"welllog_finished_run_is_not_overwritten", "strata-welllog",
     "mkdir run && cp $CKPT run/best.safetensors && echo previous > run/metrics.csv",
     "train --config $CFG --out run", 1, {"run: holds a previous run", "--force"},
     "cmp run/best.safetensors $CKPT && test \"$(cat run/metrics.csv)\" = previous"},
    {"welllog_config_error_leaves_no_folder", "strata-welllog", "", "train --config $CFG --out fresh model.bogus=1",
     1, {"model.bogus"}, "test ! -e fresh"},
    // 6. clear messages
    {"welllog_checkpoint_is_a_directory", "strata-welllog", "mkdir d && well_csv w.csv",
     "predict --checkpoint d --input w.csv --output p.csv", 1, {"d: is a directory; the checkpoint must be a file"}},
    {"welllog_config_is_a_directory", "strata-welllog", "mkdir d", "train --config d", 1,
     {"d: is a directory; the config must be a file"}},
    {"welllog_input_is_a_folder_without_wells", "strata-welllog", "mkdir d && touch d/notes.txt",
     "predict --checkpoint $CKPT --input d --output out", 1, {"d: a folder without a .las or .csv file"},
     "test ! -e out"},
    {"welllog_input_folder_output_a_file", "strata-welllog", "mkdir d && well_csv d/a.csv && touch p.csv",
     "predict --checkpoint $CKPT --input d --output p.csv", 1, {"p.csv: --input is a folder, so --output names a folder"},
     "test ! -s p.csv"},
    {"welllog_input_folder_output_into_itself", "strata-welllog", "mkdir d && well_csv d/a.csv && cp d/a.csv a0.csv",
     "predict --checkpoint $CKPT --input d --output d", 1, {"d/a.csv"}, "cmp d/a.csv a0.csv"},
    {"welllog_segy_given_as_csv", "strata-welllog",
     "for i in $(seq 40); do printf '\\xc3\\x40\\xf1\\x40\\xc3\\xd3\\xc9\\xc5\\xd5\\xe3'; printf '%70s' | tr ' ' '@'; "
     "done > f.sgy && head -c 400 /dev/zero >> f.sgy", "predict --checkpoint $CKPT --input f.sgy --output p.csv", 1,
     {"f.sgy: looks like a SEG-Y file"}},
    // a folder holding one unreadable file: the others are predicted, the command names the one skipped and exits 1
    {"welllog_folder_with_a_broken_file", "strata-welllog",
     "mkdir d && well_csv d/a.csv && well_csv d/c.csv && printf '~Version\\nVERS. 2.0 :\\n' > d/b.las",
     "predict --checkpoint $CKPT --input d --output out", 1,
     {"skipped d/b.las", "1 of 3 inputs could not be predicted and were skipped (2 predicted)",
      "wrote 2 files to out"},
     "test -s out/a.csv && test -s out/c.csv && test ! -e out/b.las"},
    {"welllog_semicolon_csv", "strata-welllog", "well_csv w.csv && sed -i 's/,/;/g' w.csv",
     "predict --checkpoint $CKPT --input w.csv --output p.csv", 1, {"looks semicolon-separated"}},
    // progress: a log file gets one line per epoch, not a bar per batch
    {"welllog_log_file_gets_lines_per_epoch", "strata-welllog", "", "train --config $CFG --out run", 0,
     {"epoch 1: train_loss", "epoch 2: train_loss"}, "! grep -q '\\[#' out.txt && ! grep -q 'ETA' out.txt"},
    // ---- strata-segment ---------------------------------------------------------------------------------------
    // 1. filesystem and checkpoint errors
    {"segment_predict_output_is_a_file", "strata-segment", "echo keep > out", "predict --checkpoint $SEG_CKPT --input "
     "$SEG_SET/images --output out", 1, {"out: exists and is not a folder"}, "test \"$(cat out)\" = keep"},
    {"segment_predict_output_under_a_file", "strata-segment", "touch f", "predict --checkpoint $SEG_CKPT --input "
     "$SEG_SET/images --output f/masks", 1, {"f is a file, not a folder"}},
    {"segment_run_folder_under_a_file", "strata-segment", "touch f", "train --config $SEG_CFG --out f/run", 1,
     {"f is a file, not a folder"}},
    {"segment_checkpoint_of_another_app", "strata-segment", "", "predict --checkpoint $CKPT --input $SEG_SET/images "
     "--output masks", 1, {"a strata-welllog checkpoint, not a strata-segment one (run it with strata-welllog)"}},
    // 2. images and masks
    {"segment_corrupt_image", "strata-segment", "cp -r $SEG_SET set && echo 'not a png' > set/images/3.png",
     "train --config $SEG_CFG --out run data.images=set/images data.masks=set/masks", 1,
     {"set/images/3.png: cannot decode the image"}},
    {"segment_truncated_image", "strata-segment", "cp -r $SEG_SET set && head -c 60 $SEG_SET/images/2.png > "
     "set/images/2.png", "train --config $SEG_CFG --out run data.images=set/images data.masks=set/masks", 1,
     {"set/images/2.png: cannot decode the image"}},
    {"segment_empty_image", "strata-segment", "cp -r $SEG_SET set && : > set/images/1.png",
     "train --config $SEG_CFG --out run data.images=set/images data.masks=set/masks", 1,
     {"set/images/1.png: the image file is empty"}},
    {"segment_mask_of_another_size", "strata-segment", "cp -r $SEG_SET set && cp $SEG_SMALL set/masks/4.png",
     "train --config $SEG_CFG --out run data.images=set/images data.masks=set/masks", 1,
     {"set/masks/4.png: the mask is 16 x 16 but its image", "is 32 x 32"}, "test ! -e run"},
    {"segment_class_index_out_of_range", "strata-segment", "",
     "train --config $SEG_CFG --out run model.classes=3 data.mask.mode=index class_names=[a,b,c]", 1,
     {"class index 255", "is not below the class count 3"}},
    {"segment_unpaired_image", "strata-segment", "cp -r $SEG_SET set && cp $SEG_SET/images/0.png set/images/extra.png",
     "train --config $SEG_CFG --out run data.images=set/images data.masks=set/masks", 1,
     {"1 image(s) without a mask of the same stem", "extra.png"}},
    {"segment_ema_negative", "strata-segment", "", "train --config $SEG_CFG --out run train.ema=-0.5", 1,
     {"train.ema"}, "test ! -e run"},
    {"segment_predict_input_not_an_image", "strata-segment", "echo text > notes.txt",
     "predict --checkpoint $SEG_CKPT --input notes.txt --output masks", 1, {"notes.txt: not an image file"}},
    {"segment_tiff_of_a_compression_not_read", "strata-segment", "cp $SRC/tests/reference/tiff/refused_jpeg.tif scan.tif",
     "predict --checkpoint $SEG_CKPT --input scan.tif --output masks", 1,
     {"scan.tif: TIFF compression JPEG is not read", "re-save"}, "test ! -e masks/scan.png"},
    {"segment_tiff_stack_reads_its_first_page", "strata-segment", "cp $SRC/tests/reference/tiff/u8_stack.tif stack.tif",
     "predict --checkpoint $SEG_CKPT --input stack.tif --output masks", 0,
     {"stack.tif holds 3 images (a stack); its first is read"}, "test -s masks/stack.png"},
    // a batch of images of several sizes: refused before the run folder is made, naming the keys that fix it
    {"segment_training_images_of_several_sizes", "strata-segment",
     "mkdir -p s/images s/masks && cp $SEG_SET/images/0.png $SEG_SET/images/1.png s/images/ && "
     "cp $SEG_SET/masks/0.png $SEG_SET/masks/1.png s/masks/ && cp $SEG_SMALL s/images/2.png && cp $SEG_SMALL s/masks/2.png",
     "train --config $SEG_CFG --out run data.images=s/images data.masks=s/masks data.val_fraction=0 train.batch=2", 1,
     {"the training images have 2 sizes", "set data.size: [h, w] (every image resized), data.augment.crop"},
     "test ! -e run"},
    {"segment_random_scale_without_a_crop", "strata-segment", "",
     "train --config $SEG_CFG --out run 'data.augment={scale: [0.8, 1.2]}' train.batch=2", 1,
     {"data.augment.scale without data.augment.crop gives each training image its own size"}, "test ! -e run"},
    {"segment_predict_folder_with_a_corrupt_image", "strata-segment",
     "mkdir d && cp $SEG_SET/images/0.png $SEG_SET/images/1.png d/ && head -c 60 d/0.png > d/2.png",
     "predict --checkpoint $SEG_CKPT --input d --output masks", 1,
     {"skipped d/2.png: cannot decode", "1 of 3 inputs could not be predicted", "wrote 2 masks to masks"},
     "test -s masks/0.png && test -s masks/1.png && test ! -e masks/2.png"},
    {"segment_predict_folder_without_images", "strata-segment", "mkdir empty",
     "predict --checkpoint $SEG_CKPT --input empty --output masks", 1, {"empty: holds no image files"}},
    {"segment_list_with_a_missing_file", "strata-segment", "printf 'a.png b.png\\n' > list.txt",
     "eval --checkpoint $SEG_CKPT --data list.txt", 1, {"list.txt:1: no file 'a.png'"}},
    // 4. command line and config
    {"segment_predict_override_it_does_not_read", "strata-segment", "", "predict --checkpoint $SEG_CKPT --input "
     "$SEG_SET/images --output masks train.epochs=3", 2, {"predict does not use the key train.epochs"}},
    {"segment_probabilities_is_a_predict_flag", "strata-segment", "", "train --config $SEG_CFG --probabilities", 2,
     {"'--probabilities' is not a flag of train (it belongs to: predict)"}},
    {"segment_unknown_config_key", "strata-segment", "", "train --config $SEG_CFG --out run data.augment.hflp=0.5", 1,
     {"data.augment.hflp"}, "test ! -e run"},
    {"segment_transpose_without_a_square_shape", "strata-segment", "",
     "train --config $SEG_CFG --out run data.augment.transpose=0.5", 1,
     {"data.augment.transpose", "needs a crop (data.augment.crop) or a square data.size"}, "test ! -e run"},
    {"segment_blur_sigma_reversed", "strata-segment", "",
     "train --config $SEG_CFG --out run 'data.augment.blur={sigma: [2, 1], p: 0.5}'", 1,
     {"data.augment.blur.sigma", "expected [low, high] with 0 < low <= high"}, "test ! -e run"},
    {"segment_bad_normalize", "strata-segment", "", "train --config $SEG_CFG --out run data.normalize=imagenet", 1,
     {"imagenet statistics are for 3-channel images"}},
    {"segment_help", "strata-segment", "", "--help", 0, {"usage:", "strata-segment predict", "docs/segment.md"}},
    {"segment_command_help", "strata-segment", "", "predict --help", 0, {"--probabilities", "(required)"}},
    // 5. outputs
    {"segment_finished_run_is_not_overwritten", "strata-segment",
     "mkdir run && cp $SEG_CKPT run/best.safetensors && echo previous > run/metrics.csv",
     "train --config $SEG_CFG --out run", 1, {"run: holds a previous run"},
     "cmp run/best.safetensors $SEG_CKPT && test \"$(cat run/metrics.csv)\" = previous"},
    {"segment_predict_writes_masks_of_the_input_size", "strata-segment", "",
     "predict --checkpoint $SEG_CKPT --input $SEG_SMALL --output masks --probabilities", 0, {"(16 x 16)"},
     "test -s masks/small.png && test -s masks/small_overlay.png && test -s masks/small_prob.png"},
    {"segment_predict_one_image_to_a_png", "strata-segment", "",
     "predict --checkpoint $SEG_CKPT --input $SEG_SMALL --output out/m.png --probabilities", 0, {"-> out/m.png"},
     "test -f out/m.png && test -s out/m_overlay.png && test -s out/m_prob.png"},
    // 6. messages
    {"segment_checkpoint_is_a_directory", "strata-segment", "mkdir d",
     "predict --checkpoint d --input $SEG_SMALL --output masks", 1, {"d: is a directory; the checkpoint must be a file"}},
    {"segment_checkpoint_cut_in_its_header", "strata-segment", "head -c 300 $SEG_CKPT > ck.safetensors",
     "predict --checkpoint ck.safetensors --input $SEG_SMALL --output o.png", 1,
     {"ck.safetensors: truncated: its header alone needs", "interrupted copy"}, "test ! -e o.png"},
    {"segment_checkpoint_cut_in_its_tensors", "strata-segment",
     "head -c $(( $(stat -c %s $SEG_CKPT) - 100 )) $SEG_CKPT > ck.safetensors",
     "predict --checkpoint ck.safetensors --input $SEG_SMALL --output o.png", 1,
     {"ck.safetensors: truncated: its tensors need"}, "test ! -e o.png"},
    {"segment_export_to_a_pytorch_file", "strata-segment", "", "export --checkpoint $SEG_CKPT --output model.pt", 2,
     {"--output model.pt: strata writes ONNX (.onnx) or the weights as safetensors", "not .pt files"},
     "test ! -e model.pt"},
    {"segment_export_format_against_the_name", "strata-segment", "",
     "export --checkpoint $SEG_CKPT --output model.onnx --format safetensors", 2,
     {"--output model.onnx is named .onnx but --format is safetensors"}, "test ! -e model.onnx"},
    {"segment_data_folder_is_a_file", "strata-segment", "touch f",
     "train --config $SEG_CFG --out run data.images=f", 1, {"f: is a file; data.images must be a folder"}},
    // strata-segment multi-class losses, pretrain, compare
    {"segment_class_weights_unknown_mode", "strata-segment", "", "train --config $SEG_CFG --out run "
     "loss.class_weights=median", 1, {"loss.class_weights", "median_frequency"}, "test ! -e run"},
    {"segment_class_weights_section_without_from", "strata-segment", "", "train --config $SEG_CFG --out run "
     "model.classes=3 data.mask.mode=index class_names=[a,b,c] 'loss.class_weights={power: 0.5}'", 1,
     {"loss.class_weights as a section needs 'from'"}, "test ! -e run"},
    {"segment_frequency_weights_on_a_binary_task", "strata-segment", "", "train --config $SEG_CFG --out run "
     "loss.class_weights=median_frequency", 1, {"is for multi-class tasks", "loss.pos_weight"}, "test ! -e run"},
    {"segment_negative_class_weight", "strata-segment", "", "train --config $SEG_CFG --out run model.classes=3 "
     "data.mask.mode=index class_names=[a,b,c] loss.class_weights=[1,-2,1]", 1, {"must be finite and >= 0, got -2"},
     "test ! -e run"},
    {"segment_focal_on_a_binary_model", "strata-segment", "", "train --config $SEG_CFG --out run loss.type=focal", 1,
     {"loss.type focal does not fit model.classes 1"}, "test ! -e run"},
    {"segment_palette_not_a_colour", "strata-segment", "", "train --config $SEG_CFG --out run "
     "\"palette=[red,'#000000']\"", 1, {"'red' is not a colour", "#RRGGBB"}, "test ! -e run"},
    {"segment_palette_too_short", "strata-segment", "", "train --config $SEG_CFG --out run \"palette=['#000000']\"", 1,
     {"palette has 1 colours for 2 classes"}, "test ! -e run"},
    {"segment_pretrain_without_an_encoder", "strata-segment", "", "pretrain --config $SEG_CFG --out pre", 1,
     {"pretrain trains the encoder of an encoder U-Net", "unet2d has no separate encoder"}, "test ! -e pre"},
    {"segment_pretrain_folder_without_images", "strata-segment", "mkdir empty",
     "pretrain --config $SEG_CFG --out pre --images empty", 1, {"empty: holds no image files"}, "test ! -e pre"},
    {"segment_compare_folder_without_a_run", "strata-segment", "mkdir nothing",
     "compare --runs nothing --output cmp", 1, {"nothing/metrics.csv: cannot read"}},
    {"segment_compare_bad_loss_target", "strata-segment", "",
     "compare --runs $SEG_MODEL --output cmp --loss-target fast", 1, {"--loss-target 'fast' is not a positive number"}},
    {"segment_compare_corrupt_metrics", "strata-segment",
     "mkdir r && printf 'epoch,step,train_loss,seconds\\n1,2,abc,3\\n' > r/metrics.csv",
     "compare --runs r --output cmp", 1, {"r/metrics.csv: row 1, column train_loss: 'abc' is not a number"}},
    {"segment_compare_writes_its_table", "strata-segment", "", "compare --runs $SEG_MODEL --output cmp", 0,
     {"best val mIoU"}, "test -s cmp/compare.csv && test -s cmp/val_loss_by_time.png"},
    // ---- strata-anomaly ---------------------------------------------------------------------------------------
    // 1. filesystem errors
    {"anomaly_predict_output_is_a_directory", "strata-anomaly", "mkdir outdir",
     "predict --checkpoint $AN_CKPT --input $AN_SET/test --output outdir", 1, {"outdir: is a directory"},
     "test -d outdir"},
    {"anomaly_checkpoint_is_a_directory", "strata-anomaly", "mkdir d",
     "predict --checkpoint d --input $AN_SET/test --output s.csv", 1, {"d: is a directory; the checkpoint must be a file"}},
    // 2. data files: IDX
    {"anomaly_idx_truncated", "strata-anomaly",
     "mkdir fm && printf '\\000\\000\\010\\003\\000\\000\\000\\012\\000\\000\\000\\034\\000\\000\\000\\034' > "
     "fm/train-images-idx3-ubyte && head -c 100 /dev/zero >> fm/train-images-idx3-ubyte && "
     "printf '\\000\\000\\010\\001\\000\\000\\000\\012' > fm/train-labels-idx1-ubyte && head -c 10 /dev/zero >> "
     "fm/train-labels-idx1-ubyte",
     "train --config $AN_CFG --out run data.source=fmnist data.root=fm data.normal_class=0", 1,
     {"train-images-idx3-ubyte: truncated: the header promises 7840 bytes of data (10 x 28 x 28), the file holds 100"},
     "test ! -e run"},
    {"anomaly_idx_not_idx", "strata-anomaly", "mkdir fm && echo hello > fm/train-images-idx3-ubyte && cp "
     "fm/train-images-idx3-ubyte fm/train-labels-idx1-ubyte",
     "train --config $AN_CFG --out run data.source=fmnist data.root=fm data.normal_class=0", 1, {"not an IDX file"}},
    {"anomaly_idx_labels_do_not_match_images", "strata-anomaly",
     "mkdir fm && printf '\\000\\000\\010\\003\\000\\000\\000\\002\\000\\000\\000\\034\\000\\000\\000\\034' > "
     "fm/train-images-idx3-ubyte && head -c 1568 /dev/zero >> fm/train-images-idx3-ubyte && "
     "printf '\\000\\000\\010\\001\\000\\000\\000\\003\\000\\001\\002' > fm/train-labels-idx1-ubyte",
     "train --config $AN_CFG --out run data.source=fmnist data.root=fm data.normal_class=0", 1,
     {"3 labels for 2 images"}},
    {"anomaly_fmnist_files_absent", "strata-anomaly", "mkdir fm",
     "train --config $AN_CFG --out run data.source=fmnist data.root=fm data.normal_class=0", 1,
     {"has neither train-images-idx3-ubyte nor train-images-idx3-ubyte.gz", "dataset-fashion-mnist"}},
    {"anomaly_normal_class_out_of_range", "strata-anomaly", "",
     "train --config $AN_CFG --out run data.source=fmnist data.normal_class=10", 1, {"data.normal_class", "10"}},
    // 3. image folders
    {"anomaly_train_folder_with_anomalies", "strata-anomaly", "",
     "train --config $AN_CFG --out run data.train=$AN_SET/val", 1, {"has an anomalous/ subfolder"}, "test ! -e run"},
    {"anomaly_val_without_anomalous_folder", "strata-anomaly", "mkdir -p v && cp -r $AN_SET/val/normal v/",
     "train --config $AN_CFG --out run data.val=v", 1, {"v: has no anomalous/ subfolder"}},
    {"anomaly_val_without_anomalous_images", "strata-anomaly", "mkdir -p v/anomalous && cp -r $AN_SET/val/normal v/",
     "train --config $AN_CFG --out run data.val=v", 1, {"the validation set needs normal and anomalous images"}},
    {"anomaly_corrupt_training_image", "strata-anomaly",
     "cp -r $AN_SET/train t && echo 'not a png' > t/normal/3.png", "train --config $AN_CFG --out run data.train=t", 1,
     {"t/normal/3.png: cannot decode the image"}},
    {"anomaly_folders_need_a_size", "strata-anomaly", "", "train --config $AN_CFG --out run data.size=[]", 1,
     {"data.size: [height, width] is required"}},
    {"anomaly_eval_folder_without_subfolders", "strata-anomaly", "mkdir plain",
     "eval --checkpoint $AN_CKPT --data plain", 1, {"plain: has no normal/ subfolder"}},
    {"anomaly_predict_input_not_an_image", "strata-anomaly", "echo text > notes.txt",
     "predict --checkpoint $AN_CKPT --input notes.txt --output s.csv", 1, {"notes.txt: not an image file"}},
    {"anomaly_predict_folder_with_a_corrupt_image", "strata-anomaly",
     "mkdir d && cp $(ls $AN_SET/test/normal/*.png | head -2) d/ && head -c 60 $(ls $AN_SET/test/normal/*.png | head -1) "
     "> d/zz_cut.png",
     "predict --checkpoint $AN_CKPT --input d --output s.csv", 1,
     {"skipped d/zz_cut.png: cannot decode", "1 of 3 inputs could not be predicted", "scored 2 images"},
     "test $(wc -l < s.csv) = 3 && ! grep -q zz_cut s.csv"},
    {"anomaly_predict_folder_without_images", "strata-anomaly", "mkdir -p empty/sub",
     "predict --checkpoint $AN_CKPT --input empty --output s.csv", 1, {"empty: holds no image files"}},
    // 4. command line, config, checkpoints
    {"anomaly_model_is_not_an_autoencoder", "strata-anomaly", "",
     "train --config $AN_CFG --out run model.type=unet2d", 1, {"is not an autoencoder"}},
    {"anomaly_input_shape_differs_from_the_data", "strata-anomaly", "",
     "train --config $AN_CFG --out run model.input_shape=[1,32,32]", 1, {"differs from the data's [1, 16, 16]"}},
    {"anomaly_normalize_refused", "strata-anomaly", "",
     "train --config $AN_CFG --out run 'data.normalize={mean: [0.5], std: [0.25]}'", 1,
     {"data.normalize, data.augment.crop, data.augment.scale and data.augment.noise are not used"}},
    {"anomaly_per_image_normalize_refused", "strata-anomaly", "",
     "train --config $AN_CFG --out run data.normalize=per_image", 1, {"data.normalize", "pixels in [0, 1]"},
     "test ! -e run"},
    {"anomaly_random_scale_refused", "strata-anomaly", "",
     "train --config $AN_CFG --out run 'data.augment.scale=[0.8, 1.2]'", 1, {"data.augment.scale and data.augment.noise are not used"},
     "test ! -e run"},
    {"anomaly_unknown_threshold_rule", "strata-anomaly", "",
     "train --config $AN_CFG --out run threshold.rule=median", 1, {"threshold.rule", "median"}, "test ! -e run"},
    {"anomaly_checkpoint_of_another_app", "strata-anomaly", "",
     "predict --checkpoint $SEG_CKPT --input $AN_SET/test --output s.csv", 1,
     {"a strata-segment checkpoint, not a strata-anomaly one"}},
    {"anomaly_checkpoint_without_threshold", "strata-anomaly", "",
     "predict --checkpoint $AN_LAST --input $AN_SET/test --output s.csv", 1, {"has no threshold"}},
    {"anomaly_predict_override_it_does_not_read", "strata-anomaly", "",
     "predict --checkpoint $AN_CKPT --input $AN_SET/test --output s.csv train.epochs=3", 2,
     {"predict does not use the key train.epochs"}},
    {"anomaly_help", "strata-anomaly", "", "--help", 0, {"usage:", "strata-anomaly predict", "docs/anomaly.md"}},
    // 5. outputs
    {"anomaly_finished_run_is_not_overwritten", "strata-anomaly",
     "mkdir run && cp $AN_CKPT run/best.safetensors && echo previous > run/metrics.csv",
     "train --config $AN_CFG --out run", 1, {"run: holds a previous run"},
     "cmp run/best.safetensors $AN_CKPT && test \"$(cat run/metrics.csv)\" = previous"},
    {"anomaly_predict_one_file", "strata-anomaly", "",
     "predict --checkpoint $AN_CKPT --input $AN_SET/test/normal/0.png --output s.csv", 0, {"scored 1 image:"},
     "test \"$(head -1 s.csv)\" = file,score,anomaly && test $(wc -l < s.csv) = 2"},
    // ---- strata-faults ----
    // 1. input files: SEG-Y that is not, is cut short, has no traces, is pre-stack, or is a directory
    {"faults_segy_truncated", "strata-faults", "head -c 4100 $FT_SGY > cut.sgy",
     "predict --checkpoint $FT_CKPT --input cut.sgy --output p.sgy", 1, {"cut.sgy:", "truncated"}, "test ! -e p.sgy"},
    {"faults_segy_headers_only", "strata-faults", "head -c 3600 $FT_SGY > h.sgy",
     "predict --checkpoint $FT_CKPT --input h.sgy --output p.sgy", 1, {"h.sgy: holds headers but no traces"}},
    {"faults_segy_too_short", "strata-faults", "echo 'not seismic' > t.sgy",
     "predict --checkpoint $FT_CKPT --input t.sgy --output p.sgy", 1, {"t.sgy: only 12 bytes: not SEG-Y"}},
    {"faults_segy_text_file", "strata-faults", "head -c 5000 /dev/zero | tr '\\0' 'x' > t.sgy",
     "predict --checkpoint $FT_CKPT --input t.sgy --output p.sgy", 1, {"t.sgy: binary header sample format"}},
    {"faults_segy_prestack", "strata-faults", "", "predict --checkpoint $FT_CKPT --input $FT_PS --output p.sgy", 1,
     {"pre-stack data", "needs post-stack"}},
    {"faults_segy_absent", "strata-faults", "", "predict --checkpoint $FT_CKPT --input none.sgy --output p.sgy", 1,
     {"none.sgy: no such SEG-Y file"}},
    {"faults_segy_directory", "strata-faults", "mkdir d.sgy", "predict --checkpoint $FT_CKPT --input d.sgy --output p.sgy",
     1, {"d.sgy: is a directory"}},
    {"faults_image_corrupt", "strata-faults", "mkdir imgs && echo junk > imgs/a.png",
     "predict --checkpoint $FT_CKPT --input imgs --output out", 1, {"a.png"}},
    {"faults_folder_with_a_truncated_survey", "strata-faults",
     "mkdir d && cp $FT_SGY d/a.sgy && head -c 4100 $FT_SGY > d/b.sgy && echo junk > d/c.png",
     "predict --checkpoint $FT_CKPT --input d --output out", 1,
     {"skipped d/b.sgy", "skipped d/c.png", "2 of 3 inputs could not be predicted and were skipped (1 predicted)"},
     "test -s out/a.sgy && test ! -e out/b.sgy && test ! -e out/c_prob.png"},
    {"faults_segy_inline_byte_inside_a_field", "strata-faults", "",
     "predict --checkpoint $FT_CKPT --input $FT_SGY --output p.sgy segy.inline_byte=10", 1,
     {"trace header byte 10 (segy.inline_byte) is not the first byte of a header field"}, "test ! -e p.sgy"},
    {"faults_seismic_unix_file", "strata-faults", "head -c 2000 /dev/zero > line.su",
     "predict --checkpoint $FT_CKPT --input line.su --output p", 1, {"line.su: a Seismic Unix file", "write it as SEG-Y"},
     "test ! -e p"},
    {"faults_segy_named_otherwise", "strata-faults", "cp $FT_SGY cube.seg",
     "predict --checkpoint $FT_CKPT --input cube.seg --output p", 1, {"cube.seg: looks like a SEG-Y file", ".sgy or .segy"}},
    {"faults_input_of_another_kind", "strata-faults", "echo notes > notes.txt",
     "predict --checkpoint $FT_CKPT --input notes.txt --output p", 1, {"notes.txt: not a SEG-Y file (.sgy, .segy)"}},
    {"faults_npy_not_numpy", "strata-faults", "echo junk > s.npy",
     "predict --checkpoint $FT_CKPT --input s.npy --output out", 1, {"s.npy: not a .npy file"}},
    {"faults_eval_folder_without_masks", "strata-faults", "mkdir -p set/images",
     "eval --checkpoint $FT_CKPT --data set", 1, {"want images/ (sections) and masks/"}},
    {"faults_match_absent_survey", "strata-faults", "", "train --config $FT_CFG --out run data.match=none.sgy", 1,
     {"none.sgy: no such SEG-Y file"}, "test ! -e run"},
    // 2. config values
    {"faults_range_reversed", "strata-faults", "", "train --config $FT_CFG --out run data.synthetic.dip=[80,50]", 1,
     {"data.synthetic.dip", "low <= high"}, "test ! -e run"},
    {"faults_range_out_of_bounds", "strata-faults", "", "train --config $FT_CFG --out run data.synthetic.period=[1,3]",
     1, {"data.synthetic.period", "outside"}},
    {"faults_train_faults_reversed", "strata-faults", "", "train --config $FT_CFG --out run data.train_faults=[6,0]", 1,
     {"data.train_faults", "low <= high"}, "test ! -e run"},
    {"faults_range_not_a_pair", "strata-faults", "", "train --config $FT_CFG --out run data.synthetic.throw=5", 1,
     {"data.synthetic.throw"}},
    {"faults_pos_weight_with_balance", "strata-faults", "", "train --config $FT_CFG --out run loss.pos_weight=5", 1,
     {"loss.pos_weight is used only with loss.balance: false"}},
    {"faults_val_seed_equals_train_seed", "strata-faults", "", "train --config $FT_CFG --out run data.val_seed=1", 1,
     {"must differ"}},
    {"faults_unknown_key", "strata-faults", "", "train --config $FT_CFG --out run data.synthetic.faultz=[1,2]", 1,
     {"faultz"}},
    {"faults_tolerance_too_large", "strata-faults", "", "train --config $FT_CFG --out run metrics.tolerance=50", 1,
     {"metrics.tolerance"}},
    {"faults_antialias_zero", "strata-faults", "", "train --config $FT_CFG --out run data.synthetic.antialias=0", 1,
     {"data.synthetic.antialias", "[1, 16]"}, "test ! -e run"},
    {"faults_ema_of_one", "strata-faults", "", "train --config $FT_CFG --out run train.ema=1", 1, {"train.ema"},
     "test ! -e run"},
    {"faults_tta_not_a_bool", "strata-faults", "",
     "predict --checkpoint $FT_CKPT --input $FT_SGY --output p.sgy inference.tta=maybe", 1,
     {"inference.tta", "true or false"}, "test ! -e p.sgy"},
    {"faults_shift_out_of_range", "strata-faults", "",
     "predict --checkpoint $FT_CKPT --input $FT_SGY --output p.sgy inference.shift=[1,64]", 1,
     {"inference.shift", "64", "0-63"}, "test ! -e p.sgy"},
    // 3. command line
    {"faults_direction_unknown", "strata-faults", "",
     "predict --checkpoint $FT_CKPT --input $FT_SGY --output p.sgy --direction diagonal", 2,
     {"--direction 'diagonal'"}},
    {"faults_sections_out_of_range", "strata-faults", "",
     "predict --checkpoint $FT_CKPT --input $FT_SGY --output p.sgy --png png --sections 0,99", 1,
     {"--sections: section 99 of 4"}, "test ! -e p.sgy"},
    {"faults_sections_not_numbers", "strata-faults", "",
     "predict --checkpoint $FT_CKPT --input $FT_SGY --output p.sgy --png png --sections 1,x", 2,
     {"'x' is not a section index"}},
    {"faults_generate_count_bad", "strata-faults", "", "generate --config $FT_CFG --output g --count lots", 2,
     {"--count 'lots'"}},
    {"faults_generate_needs_output", "strata-faults", "", "generate --config $FT_CFG", 2, {"--output"}},
    // 4. checkpoints
    {"faults_checkpoint_of_another_app", "strata-faults", "",
     "predict --checkpoint $AN_CKPT --input $FT_SGY --output p.sgy", 1,
     {"a strata-anomaly checkpoint, not a strata-faults one"}},
    {"faults_override_not_read_by_predict", "strata-faults", "",
     "predict --checkpoint $FT_CKPT --input $FT_SGY --output p.sgy train.epochs=3", 2, {"train.epochs"}},
    // Traces that do not correlate with their neighbours (a survey read in the wrong sample format or byte order
    // looks so): predicted, with a warning that names the format and byte order read; coherent traces draw none.
    {"faults_segy_of_uncorrelated_traces_is_flagged", "strata-faults", "segy_noise $FT_BIG noise.sgy",
     "predict --checkpoint $FT_CKPT --input noise.sgy --output p.sgy --direction both", 0,
     {"warning: noise.sgy: neighbouring traces hardly correlate", "its samples as IEEE float", "big-endian byte order"},
     "test -s p.sgy"},
    {"faults_match_of_uncorrelated_traces_is_flagged", "strata-faults", "segy_noise $FT_BIG noise.sgy",
     "generate --config $FT_CFG --output g --count 1 data.match=noise.sgy", 0,
     {"warning: noise.sgy: neighbouring traces hardly correlate", "check how it is read"}},
    {"faults_segy_of_coherent_traces_draws_no_warning", "strata-faults", "",
     "predict --checkpoint $FT_CKPT --input $FT_BIG --output p.sgy --direction both", 0, {"wrote p.sgy"},
     "! grep -q 'hardly correlate' out.txt"},
    // 5. outputs: never over the input, never half a file
    {"faults_output_is_the_input", "strata-faults", "cp $FT_SGY in.sgy && cp in.sgy keep.sgy",
     "predict --checkpoint $FT_CKPT --input in.sgy --output in.sgy", 1, {"would overwrite the input"},
     "cmp in.sgy keep.sgy"},
    {"faults_output_not_segy", "strata-faults", "", "predict --checkpoint $FT_CKPT --input $FT_SGY --output p.csv", 1,
     {"the output of a SEG-Y input is a SEG-Y file"}},
    {"faults_output_is_a_directory", "strata-faults", "mkdir p.sgy",
     "predict --checkpoint $FT_CKPT --input $FT_SGY --output p.sgy", 1, {"p.sgy: is a directory"}},
    // A NaN (trace 0), an infinity (trace 1) and OpendTect's undefined 1e30 (trace 2) in an IEEE-float file: read
    // as missing, one warning.
    {"faults_segy_nan_samples", "strata-faults",
     "cp $FT_SGY n.sgy && printf '\\177\\300\\000\\000' | dd of=n.sgy bs=1 seek=3840 conv=notrunc 2>/dev/null && "
     "printf '\\177\\200\\000\\000' | dd of=n.sgy bs=1 seek=4240 conv=notrunc 2>/dev/null && "
     "printf '\\161\\111\\362\\312' | dd of=n.sgy bs=1 seek=4640 conv=notrunc 2>/dev/null",
     "predict --checkpoint $FT_CKPT --input n.sgy --output p.sgy", 0,
     {"n.sgy: 3 NaN, infinite or undefined (1e30) sample(s) in 1 section(s), read as missing", "wrote p.sgy"}, "test -s p.sgy"},
    {"faults_predict_segy", "strata-faults", "",
     "predict --checkpoint $FT_CKPT --input $FT_SGY --output p.sgy --png png", 0, {"wrote p.sgy", "24 traces"},
     "test -s p.sgy && test $(ls png | wc -l) = 4 && test -s png/faults_small_inline_overview.png && ! ls | grep -q tmp"},
    {"faults_finished_run_is_not_overwritten", "strata-faults",
     "mkdir run && cp $FT_CKPT run/best.safetensors && echo previous > run/metrics.csv",
     "train --config $FT_CFG --out run", 1, {"run: holds a previous run"},
     "cmp run/best.safetensors $FT_CKPT && test \"$(cat run/metrics.csv)\" = previous"},
    {"faults_help", "strata-faults", "", "--help", 0, {"usage:", "strata-faults generate", "docs/faults.md"}},
    // train.device (apps/common/trainer.h train_device), checked before the run folder is made; this machine
    // (CI's) has no GPU.
    {"welllog_train_device_typo", "strata-welllog", "", "train --config $CFG --out run train.device=gpu", 1,
     {"train.device: 'gpu': expected cpu, cuda or cuda:N"}, "test ! -e run"},
    {"segment_train_device_without_a_gpu", "strata-segment", "", "train --config $SEG_CFG --out run train.device=cuda",
     1, {"train.device: cuda, but", "use the CPU (device cpu)"}, "test ! -e run"},
    {"anomaly_train_device_without_a_gpu", "strata-anomaly", "", "train --config $AN_CFG --out run train.device=cuda",
     1, {"train.device: cuda, but", "use the CPU (device cpu)"}, "test ! -e run"},
    {"faults_train_device_second_gpu", "strata-faults", "", "train --config $FT_CFG --out run train.device=cuda:1", 1,
     {"train.device: cuda:1: strata runs on one GPU, cuda:0", "CUDA_VISIBLE_DEVICES=1"}, "test ! -e run"},
    // train --resume without --config reads the run's config.yaml beside the checkpoint; without one it says so.
    {"welllog_resume_reads_the_runs_config", "strata-welllog", "cp -r \"$(dirname $CKPT)\" run",
     "train --resume run/last.safetensors --out run train.epochs=3", 0, {"trained 3 epochs"},
     "test -s run/last.safetensors"},
    {"welllog_resume_without_a_config_beside", "strata-welllog", "mkdir r && cp $CKPT r/last.safetensors",
     "train --resume r/last.safetensors --out r", 1, {"no --config given and no", "r/config.yaml"}},
    // eval's and predict's --device, the same rules.
    {"segment_predict_device_without_a_gpu", "strata-segment", "",
     "predict --checkpoint $SEG_CKPT --input $SEG_SMALL --output p --device cuda", 1,
     {"--device: cuda, but", "use the CPU (device cpu)"}, "test ! -e p"},
    {"welllog_eval_device_typo", "strata-welllog", "", "eval --checkpoint $CKPT --out ev --device gpu", 1,
     {"--device: 'gpu': expected cpu, cuda or cuda:N"}, "test ! -e ev"},
    // ---- what a user owns is never overwritten or mixed ----------------------------------------------------------
    // Output onto input, symlinks resolved: refused before anything is written.
    {"segment_predict_output_folder_is_the_input", "strata-segment",
     "mkdir imgs && cp $SEG_SET/images/*.png imgs/ && cp -r imgs keep",
     "predict --checkpoint $SEG_CKPT --input imgs --output imgs", 1, {"would overwrite the input"},
     "diff -r imgs keep"},
    {"anomaly_predict_output_is_an_input_image", "strata-anomaly",
     "cp -r $AN_SET/test t && cp t/normal/0.png keep.png",
     "predict --checkpoint $AN_CKPT --input t --output t/normal/0.png", 1, {"would overwrite the input"},
     "cmp t/normal/0.png keep.png"},
    {"welllog_predict_output_links_to_the_input", "strata-welllog",
     "well_csv w.csv && cp w.csv keep.csv && ln -s w.csv link.csv",
     "predict --checkpoint $CKPT --input w.csv --output link.csv", 1, {"would overwrite the input w.csv"},
     "cmp w.csv keep.csv"},
    // Run folders: --resume continues its own run; never into another run or a folder of the user's files.
    {"welllog_resume_without_out_continues_the_run", "strata-welllog", "cp -r \"$(dirname $CKPT)\" run",
     "train --resume run/last.safetensors train.epochs=3", 0, {"trained 3 epochs"},
     "test ! -e runs && test \"$(grep -v '^#' run/metrics.csv | tail -1 | cut -d, -f1)\" = 3"},
    {"welllog_resume_into_another_run_is_refused", "strata-welllog",
     "cp -r \"$(dirname $CKPT)\" a && cp -r \"$(dirname $CKPT)\" b && cp b/metrics.csv keep.csv",
     "train --resume a/last.safetensors --out b train.epochs=3", 1,
     {"b: --resume a/last.safetensors continues the run of a", "not empty"},
     "cmp b/metrics.csv keep.csv && cmp b/last.safetensors \"$(dirname $CKPT)/last.safetensors\""},
    {"welllog_resume_into_a_new_folder", "strata-welllog", "cp -r \"$(dirname $CKPT)\" a",
     "train --resume a/last.safetensors --out fresh train.epochs=3", 0, {"trained 3 epochs"},
     "test -s fresh/best.safetensors && cmp a/last.safetensors \"$(dirname $CKPT)/last.safetensors\""},
    {"welllog_out_folder_of_the_users_files", "strata-welllog",
     "mkdir mine && echo 'mine: 1' > mine/config.yaml && touch mine/figure.png",
     "train --config $CFG --out mine --force", 1,
     {"mine: is not empty (config.yaml, figure.png) and was not written by strata train"},
     "test \"$(cat mine/config.yaml)\" = 'mine: 1' && test \"$(ls -A mine | wc -l)\" = 2"},
    {"segment_force_keeps_the_old_run_when_the_new_one_fails", "strata-segment",
     "cp -r $SEG_MODEL run && cp -r $SEG_SET set && head -c 60 set/images/3.png > t && mv t set/images/3.png",
     "train --config $SEG_CFG --out run --force data.images=set/images data.masks=set/masks", 1,
     {"3.png: cannot decode the image", "the previous run is put back"},
     "cmp run/best.safetensors $SEG_CKPT && test ! -e .run.replaced"},
    {"segment_force_replaces_a_run", "strata-segment", "cp -r $SEG_MODEL run && echo old > run/stale.txt",
     "train --config $SEG_CFG --out run --force", 0, {"--force: the previous run"},
     "test -s run/best.safetensors && test ! -e run/stale.txt && test ! -e .run.replaced"},
    // strata-plot redraws a run's curves.
    {"plot_redraws_a_run_in_other_formats", "strata-plot", "cp -r $SEG_MODEL run && rm -f run/loss.png run/metrics.png",
     "run --formats svg,pdf", 0, {"wrote run/loss.svg, run/loss.pdf, run/metrics.svg, run/metrics.pdf"},
     "grep -q '<svg' run/loss.svg && head -c 5 run/metrics.pdf | grep -q '%PDF' && test ! -e run/loss.png"},
    {"plot_unknown_format", "strata-plot", "cp -r $SEG_MODEL run", "run --formats jpg", 2,
     {"--formats: 'jpg' is not one of png, svg, pdf"}},
    {"plot_folder_without_a_run", "strata-plot", "mkdir empty", "empty", 1,
     {"empty/metrics.csv: cannot read (a run folder has metrics.csv)"}},
    {"plot_version", "strata-plot", "", "--version", 0, {"strata ", "(commit "}},
    // Two inputs onto one output name: refused before anything is written.
    {"segment_predict_two_inputs_one_mask_name", "strata-segment",
     "mkdir i && cp $SEG_SET/images/0.png i/a.png && cp $SEG_SET/images/1.png i/a.jpg",
     "predict --checkpoint $SEG_CKPT --input i --output o", 1, {"a.png: both", "would write this file"},
     "test ! -e o"},
    {"segment_predict_overlay_name_of_another_input", "strata-segment",
     "mkdir i && cp $SEG_SET/images/0.png i/x.png && cp $SEG_SET/images/1.png i/x_overlay.png",
     "predict --checkpoint $SEG_CKPT --input i --output o", 1, {"x_overlay.png: both"}, "test ! -e o"},
    {"faults_predict_npy_and_png_of_one_stem", "strata-faults",
     "mkdir s && npy_f4 s/a.npy '(32, 32)' && cp $SEG_SET/images/0.png s/a.png",
     "predict --checkpoint $FT_CKPT --input s --output o", 1, {"a_overlay.png: both"}, "test ! -e o"},
    // ---- no silent wrong answers -------------------------------------------------------------------------------
    {"segment_list_absolute_paths_are_read_as_given", "strata-segment",
     "mkdir -p L/images L/masks && for i in 0 1 2 3; do echo junk > L/images/$i.png; echo junk > L/masks/$i.png; "
     "echo \"$SEG_SET/images/$i.png $SEG_SET/masks/$i.png\" >> L/list.txt; done",
     "eval --checkpoint $SEG_CKPT --data L/list.txt --out ev", 0, {"4 images:"}},
    {"segment_list_duplicate_line", "strata-segment",
     "for i in 0 1 1 2; do echo \"$SEG_SET/images/$i.png $SEG_SET/masks/$i.png\" >> l.txt; done",
     "train --config $SEG_CFG --out run data.train_list=l.txt", 1,
     {"l.txt:3: lists the image", "again (first on line 2)"}, "test ! -e run"},
    {"segment_list_with_a_byte_order_mark", "strata-segment",
     "printf '\\357\\273\\277' > l.txt && for i in 0 1; do echo \"$SEG_SET/images/$i.png $SEG_SET/masks/$i.png\" "
     ">> l.txt; done", "eval --checkpoint $SEG_CKPT --data l.txt --out ev", 0, {"2 images:"}},
    {"segment_zero_one_masks_under_threshold_127", "strata-segment",
     "mkdir -p o/images o/masks && cp $SEG_SET/images/*.png o/images/ && "
     "for i in 0 1 2 3 4 5 6 7; do png_disk o/masks/$i.png $i 1; done",
     "train --config $SEG_CFG --out run data.images=o/images data.masks=o/masks", 1,
     {"holds only the values 0 and 1, none above data.mask.threshold 127", "data.mask.threshold=0"},
     "test ! -e run"},
    {"segment_binary_checkpoint_scored_on_index_labels", "strata-segment",
     "mkdir -p o/images o/masks && cp $SEG_SET/images/*.png o/images/ && "
     "for i in 0 1 2 3 4 5 6 7; do png_disk o/masks/$i.png $i 1; done",
     "eval --checkpoint $SEG_CKPT --data o --out ev", 1, {"holds only the values 0 and 1"}},
    {"segment_palette_index_masks", "strata-segment",
     "mkdir -p p/images p/masks && cp $SEG_SET/images/*.png p/images/ && "
     "for i in 0 1 2 3 4 5 6 7; do png_disk p/masks/$i.png $i 1 palette; done && "
     "$BIN/strata-segment eval --checkpoint $SEG_CKPT --data $SEG_SET --out grey > grey.txt",
     "eval --checkpoint $SEG_CKPT --data p --out ev data.mask.threshold=0", 0, {"8 images:"},
     "cmp ev/metrics.csv grey/metrics.csv"},
    {"faults_segy_diagonal_line", "strata-faults", "cp $FT_SGY d.sgy && segy_diagonal d.sgy",
     "predict --checkpoint $FT_CKPT --input d.sgy --output p.sgy", 0, {"2-D line of 24 traces", "24 traces"},
     "test -s p.sgy"},
    {"anomaly_checkpoint_threshold_nan", "strata-anomaly",
     "cp $AN_CKPT ck.safetensors && perl -0777 -pi -e "
     "'s/(\"anomaly.threshold\":\")([^\"]*)\"/$1 . \"nan\\\"\" . (\" \" x (length($2) - 3))/e' ck.safetensors",
     "predict --checkpoint ck.safetensors --input $AN_SET/test --output s.csv", 1,
     {"the threshold is nan, not a finite number"}, "test ! -e s.csv"},
    {"faults_npy_mask_with_nan", "strata-faults",
     "mkdir -p set/images set/masks && npy_f4 set/images/a.npy '(32, 32)' && npy_f4 set/masks/a.npy '(32, 32)' nan",
     "eval --checkpoint $FT_CKPT --data set --out ev", 1, {"masks/a.npy: the fault mask holds nan"}},
    // ---- no crash, no unbounded allocation ---------------------------------------------------------------------
    {"faults_npy_empty_sections", "strata-faults",
     "mkdir s && npy_f4 s/a.npy '(0, 5)' && npy_f4 s/b.npy '(0, 0)' && npy_f4 s/c.npy '(48, 0)'",
     "predict --checkpoint $FT_CKPT --input s --output o", 1, {"a.npy: the array holds no value (shape [0, 5])"}},
    {"faults_npy_single_trace_is_a_section", "strata-faults", "npy_f4 t.npy '(50, 1)'",
     "predict --checkpoint $FT_CKPT --input t.npy --output p.npy", 0, {"wrote p.npy and p_overlay.png"},
     "test -f p.npy && head -c 80 p.npy | grep -aq \"'shape': (50, 1)\""},
    {"faults_npy_output_keeps_the_input_shape", "strata-faults", "npy_f4 t.npy '(1, 40, 30)'",
     "predict --checkpoint $FT_CKPT --input t.npy --output out/p.npy", 0, {"wrote out/p.npy and out/p_overlay.png"},
     "head -c 80 out/p.npy | grep -aq \"'shape': (1, 40, 30)\" && test -f out/p_overlay.png"},
    {"faults_npy_three_dimensions", "strata-faults", "npy_f4 c.npy '(4, 5, 6)'",
     "predict --checkpoint $FT_CKPT --input c.npy --output p.npy", 1,
     {"c.npy: a section is a 2-D array (samples x traces); this one has shape [4, 5, 6]"}},
    {"faults_opendtect_window_overflowing_int32", "strata-faults", "seis_info si.bin 65536 65536 0",
     "opendtect --checkpoint $FT_CKPT -c '{}' < si.bin", 1, {"SeisInfo nrinl is 65536; want 1 to 2049"}},
    {"faults_opendtect_block_too_large", "strata-faults",
     "seis_info si.bin 2049 2049 4198401 && python3 -c \"import struct; "
     "open('si.bin', 'ab').write(struct.pack('<4i', 1000000, 0, 1, 1))\"",
     "opendtect --checkpoint $FT_CKPT -c '{}' < si.bin", 1, {"is over the 268435456 values"}},
    {"segment_png_decompression_bomb", "strata-segment", "png_zeros big.png 16000 16000",
     "predict --checkpoint $SEG_CKPT --input big.png --output o", 1,
     {"big.png: 16000 x 16000 = 256000000 pixels is over the limit", "STRATA_MAX_IMAGE_PIXELS"}},
    // ---- errors that say what is wrong -------------------------------------------------------------------------
    {"faults_npy_structured_dtype", "strata-faults",
     "mkdir s && npy_header s/a.npy \"{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, "
     "'shape': (4,), }\" 32", "predict --checkpoint $FT_CKPT --input s --output o", 1,
     {"a.npy: .npy holds a structured dtype"}},
    {"faults_npy_odd_descr", "strata-faults",
     "mkdir s && npy_header s/a.npy \"{'descr': 'f4', 'fortran_order': False, 'shape': (4, 4), }\" 64",
     "predict --checkpoint $FT_CKPT --input s --output o", 1, {"a.npy: .npy dtype 'f4' is not understood"}},
    {"faults_npy_overflowing_shape", "strata-faults",
     "mkdir s && npy_header s/a.npy \"{'descr': '<f4', 'fortran_order': False, "
     "'shape': (4294967296, 4294967296), }\" 64", "predict --checkpoint $FT_CKPT --input s --output o", 1,
     {"a.npy: truncated: the header's shape", "more than 2^64"}},
    {"faults_npy_dimension_of_many_digits", "strata-faults",
     "mkdir s && npy_header s/a.npy \"{'descr': '<f4', 'fortran_order': False, "
     "'shape': (99999999999999999999999, 2), }\" 64", "predict --checkpoint $FT_CKPT --input s --output o", 1,
     {"a.npy: .npy shape", "digits"}},
    {"faults_opendtect_selection_not_a_number", "strata-faults", "seis_info si.bin 1 1 1",
     "opendtect --checkpoint $FT_CKPT -c '{\"Select\":{\"Selection\":\"two\"}}' < si.bin", 1,
     {"Select.Selection is \"two\" (string)"}},
    {"welllog_checkpoint_negative_shape", "strata-welllog",
     "cp $CKPT ck.safetensors && perl -0777 -pi -e 's/\"shape\":\\[(\\d)(\\d)\\]/\"shape\":[-$2]/' ck.safetensors",
     "predict --checkpoint ck.safetensors --input $WELL --output p.csv", 1,
     {"ck.safetensors: tensor '", "has the impossible shape"}},
    {"faults_interrupted_segy_prediction_leaves_no_tmp", "strata-faults",
     "$BIN/strata-faults predict --checkpoint $FT_CKPT --input $FT_BIG --output p.sgy > pred.txt 2>&1 & pid=$!; "
     "for i in $(seq 1000); do test -e p.sgy.tmp && break; sleep 0.01; done; kill -INT $pid; wait $pid; true",
     "--help", 0, {"usage:"}, "test ! -e p.sgy.tmp && test ! -e p.sgy"},
    {"anomaly_interrupted_run_best_has_a_threshold", "strata-anomaly",
     "$BIN/strata-anomaly train --config $AN_CFG --out run train.epochs=100000 > train.txt 2>&1 & pid=$!; "
     "for i in $(seq 1200); do test -e run/best.safetensors && break; sleep 0.05; done; kill -INT $pid; "
     "wait $pid; test -e run/best.safetensors",
     "predict --checkpoint run/best.safetensors --input $AN_SET/test --output s.csv", 0, {"scored"}},
};

std::string read_file(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs `script` with bash in `dir`, helpers defined; returns the exit status.
int run_bash(const fs::path& dir, const std::string& script) {
  const fs::path file = dir / ".script.sh";
  std::ofstream(file) << kHelpers << "set -o pipefail\ncd '" << dir.string() << "' || exit 98\n" << script << "\n";
  const int status = std::system(("bash '" + file.string() + "' < /dev/null").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class HostileInput : public ::testing::TestWithParam<HostileCase> {
 public:
  // One folder per process (the suite may run in two builds at once).
  static fs::path root() {
    static const fs::path r = fs::temp_directory_path() / ("strata_hostile_" + std::to_string(getpid()));
    return r;
  }

  static void SetUpTestSuite() {
    fs::remove_all(root());
    fs::create_directories(root());
    setenv("BIN", STRATA_BIN_DIR, 1);
    setenv("SRC", STRATA_SOURCE_DIR, 1);
    const fs::path cfg = root() / "welllog_tiny.yaml";
    std::ofstream(cfg) << strata::test::tiny_welllog_config();
    setenv("CFG", cfg.string().c_str(), 1);
    const fs::path model = root() / "welllog_model";
    const int rc = run_bash(root(), "\"$BIN/strata-welllog\" train --config \"$CFG\" --out '" + model.string() +
                                        "' > welllog_train.log 2>&1");
    ASSERT_EQ(rc, 0) << read_file(root() / "welllog_train.log");
    setenv("CKPT", (model / "best.safetensors").string().c_str(), 1);
    const fs::path well = root() / "well.csv";
    ASSERT_EQ(run_bash(root(), "well_csv '" + well.string() + "'"), 0);
    setenv("WELL", well.string().c_str(), 1);

    const fs::path set = root() / "segment_set";
    strata::test::write_segment_set(set);
    setenv("SEG_SET", set.string().c_str(), 1);
    setenv("SEG_SMALL", (set / "small.png").string().c_str(), 1);
    const fs::path seg_cfg = root() / "segment_tiny.yaml";
    std::ofstream(seg_cfg) << strata::test::segment_set_config(set);
    setenv("SEG_CFG", seg_cfg.string().c_str(), 1);
    const fs::path seg_model = root() / "segment_model";
    ASSERT_EQ(run_bash(root(), "\"$BIN/strata-segment\" train --config \"$SEG_CFG\" --out '" + seg_model.string() +
                                   "' > segment_train.log 2>&1"),
              0)
        << read_file(root() / "segment_train.log");
    setenv("SEG_CKPT", (seg_model / "best.safetensors").string().c_str(), 1);
    setenv("SEG_MODEL", seg_model.string().c_str(), 1);

    const fs::path an_set = root() / "anomaly_set";
    strata::test::write_anomaly_set(an_set, 16, 4);
    setenv("AN_SET", an_set.string().c_str(), 1);
    const fs::path an_cfg = root() / "anomaly_tiny.yaml";
    std::ofstream(an_cfg) << strata::test::anomaly_set_config(an_set, 1);
    setenv("AN_CFG", an_cfg.string().c_str(), 1);
    const fs::path an_model = root() / "anomaly_model";
    ASSERT_EQ(run_bash(root(), "\"$BIN/strata-anomaly\" train --config \"$AN_CFG\" --out '" + an_model.string() +
                                   "' > anomaly_train.log 2>&1"),
              0)
        << read_file(root() / "anomaly_train.log");
    setenv("AN_CKPT", (an_model / "best.safetensors").string().c_str(), 1);
    setenv("AN_LAST", (an_model / "last.safetensors").string().c_str(), 1);

    strata::test::write_test_segy(root() / "faults_small.sgy");
    strata::test::write_test_segy(root() / "faults_prestack.sgy", 2, 2, 20, 2);
    setenv("FT_SGY", (root() / "faults_small.sgy").string().c_str(), 1);
    setenv("FT_PS", (root() / "faults_prestack.sgy").string().c_str(), 1);
    strata::test::write_test_segy(root() / "faults_big.sgy", 48, 64, 256);
    setenv("FT_BIG", (root() / "faults_big.sgy").string().c_str(), 1);
    const fs::path ft_cfg = root() / "faults_tiny.yaml";
    std::ofstream(ft_cfg) << strata::test::tiny_faults_config();
    setenv("FT_CFG", ft_cfg.string().c_str(), 1);
    const fs::path ft_model = root() / "faults_model";
    ASSERT_EQ(run_bash(root(), "\"$BIN/strata-faults\" train --config \"$FT_CFG\" --out '" + ft_model.string() +
                                   "' > faults_train.log 2>&1"),
              0)
        << read_file(root() / "faults_train.log");
    setenv("FT_CKPT", (ft_model / "best.safetensors").string().c_str(), 1);
  }

  static void TearDownTestSuite() {
    if (!std::getenv("STRATA_KEEP_TEST_FILES")) fs::remove_all(root());
  }
};

TEST_P(HostileInput, ClearErrorExitCodeAndNothingDestroyed) {
  const HostileCase& c = GetParam();
  const fs::path dir = root() / c.name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  if (*c.setup) {
    ASSERT_EQ(run_bash(dir, c.setup), 0) << "setup failed: " << c.setup;
  }
  const int rc = run_bash(dir, std::string("\"$BIN/") + c.app + "\" " + c.args + " > out.txt 2>&1");
  const std::string out = read_file(dir / "out.txt");
  EXPECT_EQ(rc, c.exit_code) << c.app << " " << c.args << "\n" << out;
  EXPECT_THAT(out, Not(HasSubstr("terminate called")));
  EXPECT_THAT(out, Not(HasSubstr("internal error")));
  for (const char* w : c.words) EXPECT_THAT(out, HasSubstr(w)) << c.app << " " << c.args;
  if (*c.check) {
    EXPECT_EQ(run_bash(dir, c.check), 0) << "after the run, this failed: " << c.check << "\n" << out;
  }
}

INSTANTIATE_TEST_SUITE_P(Apps, HostileInput, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<HostileCase>& info) { return info.param.name; });

}  // namespace
