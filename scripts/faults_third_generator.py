#!/usr/bin/env python3
"""Labelled seismic cubes from a third fault generator, built the way the published 3-D fault-segmentation
training sets are usually built, with numbers unlike strata-faults' own generator (apps/faults/synth.cpp) and the
second one (scripts/faults_second_generator.py), to score how a model holds on data it was not designed around:

  - earth model: sparse reflectivity, a random coefficient in [-1, 1] at about 40% of the samples of a 1-D series
    and zero elsewhere, band-limited to the sampling and read at any depth (no layers, no impedance);
  - folding: four Gaussian bumps that grow linearly with depth, plus a planar tilt of the whole cube;
  - faults: five to eight planes of any strike, dip 62-82 degrees, throw 5-30 samples along the dip (larger than
    either other generator's), normal or reverse; the throw either grows linearly from the fault's centre towards
    the cube's bottom (normal) or top (reverse), with a tip at the centre, or follows a Gaussian of depth around
    the centre (width 20 samples); younger faults offset older ones and their labels;
  - wavelet: a Ricker of peak frequency 20-35 Hz at 4 ms sampling (0.08-0.14 cycles a sample); noise: white noise
    at a signal-to-noise power ratio of 2-5 dB, then the whole trace through a zero-phase band-pass of 5-80 Hz
    (Butterworth, order 5, applied forwards and backwards);
  - amplitudes: standardised over the cube and clipped to [-1, 1], so about a third of the samples are flat tops;
  - labels: 1 where the trace lies within half a trace (horizontally) of a fault plane whose throw there exceeds
    one sample.

Writes CUBE_i.sgy (IEEE float samples, inline / crossline numbers at bytes 189 / 193) and CUBE_i_faults.sgy
(0 / 1) into OUT, the layout `strata-faults generate --cubes` writes, so `strata-faults eval --data CUBE_i.sgy
--labels CUBE_i_faults.sgy` scores a model on them (`GENERATOR=third scripts/faults_second_generator.sh CHECKPOINT N`
does it for N cubes).

    scripts/faults_third_generator.py [--throws=LO,HI] [--snr-db=LO,HI] [--no-clip] OUT [CUBES (4)] [SEED (11)] [SIZE (128)]

The options change one choice at a time, to find what a model loses most on: --throws (samples along the dip,
default 5,30), --snr-db (default 2,5), --no-clip (amplitudes standardised only).

Needs numpy."""
import sys

import numpy as np

from faults_second_generator import butterworth, write_cubes


def reflectivity_series(rng, length, upsample=8):
    """A sparse spike series of `length` samples, band-limited and resampled `upsample` times finer (a sinc
    interpolation through the spectrum), so reading it at a fractional depth is a linear interpolation."""
    spikes = np.zeros(length)
    where = rng.integers(0, length, length // 2)
    spikes[where] = rng.uniform(-1, 1, where.size)
    spectrum = np.fft.rfft(spikes)
    fine = np.fft.irfft(spectrum, n=length * upsample) * upsample
    return fine


def ricker(peak, n):
    """A zero-phase Ricker wavelet's spectrum at the rfft frequencies of n samples (peak in cycles a sample)."""
    f = np.fft.rfftfreq(n)
    return (f / peak) ** 2 * np.exp(-((f / peak) ** 2))


def cube(rng, size, throws=(5, 30), snr_db=(2, 5), clip=True):
    n = size
    x, y, z = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float), np.arange(n, dtype=float),
                          indexing="ij")
    label = np.zeros(x.shape, dtype=bool)
    # Faults, youngest first: each voxel is moved back to where it lay before the fault slipped.
    for _ in range(rng.integers(5, 9)):
        x0, y0, z0 = rng.uniform(0.25 * n, 0.75 * n, 3)  # 32-96 in a 128^3 cube
        dip = np.radians(rng.uniform(62, 82))
        strike = rng.uniform(0, 2 * np.pi)
        throw = rng.uniform(*throws) * rng.choice([-1, 1])  # > 0: normal
        across = (x - x0) * np.cos(strike) + (y - y0) * np.sin(strike)
        plane = z0 + across * np.tan(dip)                 # the plane's depth under each trace
        if rng.uniform() < 0.5:
            # Linear: no slip above the centre (normal) or below it (reverse), growing to the cube's edge.
            edge = n if throw > 0 else 0
            slip = throw * np.clip((z - z0) / (edge - z0), 0, None)
        else:
            slip = throw * np.exp(-((z - z0) ** 2) / (2 * 20.0**2))
        label |= (np.abs(z - plane) < 0.5 * np.tan(dip)) & (np.abs(slip) > 1)
        hanging = z < plane
        down_dip = (np.cos(dip) * np.cos(strike), np.cos(dip) * np.sin(strike), np.sin(dip))
        for coordinate, component in ((x, down_dip[0]), (y, down_dip[1]), (z, down_dip[2])):
            coordinate[hanging] -= slip[hanging] * component
    # Folding: Gaussian bumps that grow with depth, and a planar tilt.
    bumps = np.zeros_like(x)
    for _ in range(4):
        cx, cy = rng.uniform(0, n - 1, 2)
        sigma = rng.uniform(10, 30)
        bumps += rng.uniform(2, 8) * rng.choice([-1, 1]) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    tilt = rng.uniform(-1, 1) + rng.uniform(-0.1, 0.1) * x + rng.uniform(-0.1, 0.1) * y
    depth = z + 1.5 * bumps * z / n + tilt + n  # the series has n samples of room above and below the cube
    upsample = 8
    series = reflectivity_series(rng, 3 * n + 64, upsample)
    reflectivity = np.interp(depth * upsample, np.arange(series.size, dtype=float), series)
    # Wavelet, noise, band-pass.
    spectrum = np.fft.rfft(reflectivity, axis=2) * ricker(rng.uniform(20, 35) * 0.004, n)
    seismic = np.fft.irfft(spectrum, n=n, axis=2)
    snr = rng.uniform(*snr_db)
    noise = rng.normal(size=seismic.shape) * seismic.std() / np.sqrt(10 ** (snr / 10))
    # A Butterworth band-pass run forwards and backwards: its magnitude squared, no phase.
    band = butterworth(np.fft.rfftfreq(n), 5 * 0.004, 80 * 0.004, 5, 5) ** 2
    seismic = np.fft.irfft(np.fft.rfft(seismic + noise, axis=2) * band, n=n, axis=2)
    seismic = (seismic - seismic.mean()) / seismic.std()
    if clip:
        seismic = np.clip(seismic, -1, 1)
    return seismic.astype(np.float32), label.astype(np.float32)


def pair(text):
    lo, hi = (float(v) for v in text.split(","))
    return lo, hi


def main():
    options = {"throws": (5, 30), "snr_db": (2, 5), "clip": True}
    args = []
    for a in sys.argv[1:]:
        if a.startswith("--throws="):
            options["throws"] = pair(a.split("=", 1)[1])
        elif a.startswith("--snr-db="):
            options["snr_db"] = pair(a.split("=", 1)[1])
        elif a == "--no-clip":
            options["clip"] = False
        elif a.startswith("-"):
            sys.exit(f"faults_third_generator: unknown option {a}\n\n{__doc__}")
        else:
            args.append(a)

    def make(rng, size):
        seismic, label = cube(rng, size, **options)
        return seismic, label, f", clipped {np.mean(np.abs(seismic) >= 1):.2f}" if options["clip"] else ""

    write_cubes(args, 11, make, __doc__)


if __name__ == "__main__":
    main()
