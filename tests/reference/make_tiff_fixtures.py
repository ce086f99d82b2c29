"""Writes the TIFF fixtures of tests/test_segment.cpp (ImageIo.Tiff*) with tifffile, an encoder independent of
strata's decoder: every layout, compression, predictor, sample format and byte order the decoder reads, and two
files it refuses. The pixel values follow formulas the C++ test computes again.

    python -m venv /tmp/tv && /tmp/tv/bin/pip install tifffile imagecodecs numpy
    /tmp/tv/bin/python tests/reference/make_tiff_fixtures.py tests/reference/tiff
"""
import os
import sys

import numpy as np
import tifffile

H, W = 23, 37  # odd sizes: a short last strip and partial tiles


def grid(channels):
    c, y, x = np.meshgrid(np.arange(channels), np.arange(H), np.arange(W), indexing="ij")
    return c, y, x


def u8(channels):
    c, y, x = grid(channels)
    return ((x * 7 + y * 13 + c * 50) % 256).astype(np.uint8)


def u16(channels):
    c, y, x = grid(channels)
    return ((x * 1031 + y * 2053 + c * 9000) % 65536).astype(np.uint16)


def u32(channels):
    c, y, x = grid(channels)
    return (x * 100003 + y * 7000001 + c * 13).astype(np.uint32)


def i16(channels):
    return (u16(channels).astype(np.int32) - 32768).astype(np.int16)


def real(channels, dtype):
    c, y, x = grid(channels)
    return ((x - 2.0 * y + 0.25 * c) / 7.0).astype(dtype)


def unit(channels):
    return (u8(channels).astype(np.float32) / 255.0).astype(np.float32)


def interleaved(a):  # (C, H, W) -> (H, W, C), or (H, W) for one channel
    return a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)


def main(out):
    os.makedirs(out, exist_ok=True)

    def save(name, data, **kw):
        tifffile.imwrite(os.path.join(out, name), data, **kw)

    save("u8_grey_strips.tif", interleaved(u8(1)), rowsperstrip=5, photometric="minisblack")
    save("u8_rgb_lzw_predictor_be.tif", interleaved(u8(3)), byteorder=">", compression="lzw", predictor=2,
         rowsperstrip=4, photometric="rgb")
    save("u8_rgba_deflate_tiles.tif", interleaved(u8(4)), compression="zlib", tile=(16, 16), photometric="rgb",
         extrasamples=["unassalpha"])
    save("u16_grey_packbits_be.tif", interleaved(u16(1)), byteorder=">", compression="packbits", rowsperstrip=3,
         photometric="minisblack")
    save("u16_rgb_planar_lzw_predictor.tif", u16(3), planarconfig="separate", compression="lzw", predictor=2,
         rowsperstrip=8, photometric="rgb")
    save("u32_grey_deflate.tif", interleaved(u32(1)), compression="zlib", photometric="minisblack")
    save("i16_grey_lzw_predictor_be.tif", interleaved(i16(1)), byteorder=">", compression="lzw", predictor=2,
         photometric="minisblack")
    save("f32_grey_lzw_float_predictor.tif", interleaved(real(1, np.float32)), compression="lzw", predictor=3,
         rowsperstrip=6, photometric="minisblack")
    save("f64_grey_deflate_float_predictor_be_tiles.tif", interleaved(real(1, np.float64)), byteorder=">",
         compression="zlib", predictor=3, tile=(16, 32), photometric="minisblack")
    save("f32_unit_grey_bigtiff.tif", interleaved(unit(1)), bigtiff=True, photometric="minisblack")
    c, y, x = grid(1)
    save("bits1_packbits.tif", ((x + y) % 3 == 0)[0], compression="packbits", photometric="minisblack")
    save("u8_grey_white_is_zero.tif", interleaved(u8(1)), photometric="miniswhite")
    # A colour palette of 256 entries: index i shows (i * 257, (255 - i) * 257, (i * 3 % 256) * 257).
    i = np.arange(256)
    colormap = np.stack([i * 257, (255 - i) * 257, (i * 3 % 256) * 257]).astype(np.uint16)
    labels = ((x // 5 + y // 4) % 7).astype(np.uint8)[0]
    save("u8_palette.tif", labels, photometric="palette", colormap=colormap)
    # A stack of three pages: page k is u8 + k.
    save("u8_stack.tif", np.stack([interleaved(u8(1)) + k for k in range(3)]), photometric="minisblack")
    # Refused: JPEG compression, a YCbCr-free CMYK page.
    save("refused_jpeg.tif", interleaved(u8(3)), compression="jpeg", photometric="rgb")
    save("refused_cmyk.tif", interleaved(u8(4)), photometric="separated")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/reference/tiff")
