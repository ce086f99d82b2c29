#!/usr/bin/env python3
"""Labelled seismic cubes from a second fault generator, written apart from strata-faults' own (apps/faults/synth.cpp)
and built on other choices at every step, to score how a model holds on data it was not designed around:

  - earth model: a log-impedance series of layers whose thickness is drawn from a gamma distribution, each layer
    with its own gradient (fining or coarsening upwards), a slow trend and a few strong contrasts; reflectivity is
    the depth derivative of the deformed log-impedance, centred on each sample, so stretched and squeezed layers
    keep their contrasts and reflectors lie where the layer boundaries are;
  - folding: one to three sinusoidal fold trains of any azimuth and a dome or basin, growing with depth, and layers
    that thicken across the cube (a wedge);
  - faults: two to five planes of any strike, dip 55-85 degrees, normal or reverse, whose slip tapers to zero on an
    ellipse around the fault's centre, so faults die out inside the cube; younger faults offset older ones;
  - wavelet: a Butterworth band-pass of random corners and slopes with a constant phase rotation, in place of a
    Ricker; noise: white noise through a wider band-pass at a signal-to-noise ratio of 2-8, with a lateral gain;
  - labels: 1 where a fault plane with at least one sample of vertical slip passes within half a sample.

Writes CUBE_i.sgy (IEEE float samples, inline / crossline numbers at bytes 189 / 193) and CUBE_i_faults.sgy
(0 / 1) into OUT, the layout `strata-faults generate --cubes` writes, so `strata-faults eval --data CUBE_i.sgy
--labels CUBE_i_faults.sgy` scores a model on them (scripts/faults_second_generator.sh does it for N cubes).

    scripts/faults_second_generator.py [--below] OUT [CUBES (4)] [SEED (7)] [SIZE (128)]

--below puts each reflection on the sample below its boundary (the difference of neighbouring samples), and so
every fault in the data half a sample below its label: how exact AP moves with the labels' registration.

Needs numpy."""
import os
import struct
import sys

import numpy as np


def impedance_series(rng, length):
    """Log-impedance on `length` samples of relative geological time."""
    values = np.empty(length)
    z = 0
    level = rng.normal(0, 0.3)
    mean_thickness = rng.uniform(3, 12)
    while z < length:
        thickness = max(1, int(round(rng.gamma(2.0, mean_thickness / 2.0))))
        step = rng.normal(0, 0.12)
        if rng.uniform() < 0.1:
            step += rng.choice([-1, 1]) * rng.uniform(0.3, 0.6)
        level += step
        gradient = rng.normal(0, 0.02)
        n = min(thickness, length - z)
        values[z:z + n] = level + gradient * np.arange(n)
        z += n
    trend = np.linspace(0, rng.uniform(-0.5, 0.5), length)
    return values + trend


def fold_shift(rng, x, y):
    """Vertical shift (samples) at the bottom of the cube for each trace position, from fold trains and a dome."""
    shift = np.zeros_like(x)
    for _ in range(rng.integers(1, 4)):
        azimuth = rng.uniform(0, np.pi)
        wavelength = rng.uniform(60, 260)
        amplitude = rng.uniform(1, 8)
        along = x * np.cos(azimuth) + y * np.sin(azimuth)
        shift += amplitude * np.sin(2 * np.pi * along / wavelength + rng.uniform(0, 2 * np.pi))
    cx, cy = rng.uniform(0, x.max(), 2)
    radius = rng.uniform(30, 90)
    shift += rng.uniform(-10, 10) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))
    return shift


def centred_reflectivity(log_impedance, depth):
    """Reflection coefficients at the samples `depth` of a log-impedance given as a function of depth: its change
    from half a sample above each sample to half a sample below it. A boundary's reflection then lies on the sample
    nearest the boundary, and the faults in the data where their labels are; a difference between neighbouring
    samples would put every reflection half a sample deeper, and the data's faults half a sample off the labels."""
    return (log_impedance(depth + 0.5) - log_impedance(depth - 0.5)) / 2


def butterworth(frequencies, low, high, order_low, order_high):
    f = np.maximum(frequencies, 1e-9)
    return 1 / np.sqrt(1 + (low / f) ** (2 * order_low)) / np.sqrt(1 + (f / high) ** (2 * order_high))


def cube(rng, size, below=False):
    n = size
    # Voxel coordinates, (inline, crossline, sample), samples and traces in the same units.
    y, x, z = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float), np.arange(n, dtype=float),
                          indexing="ij")
    label = np.zeros(x.shape, dtype=bool)
    # Faults, youngest first: each voxel is moved back to where it lay before the fault slipped.
    for _ in range(rng.integers(2, 6)):
        strike = rng.uniform(0, 2 * np.pi)
        dip = np.radians(rng.uniform(55, 85))
        s = np.array([np.cos(strike), np.sin(strike), 0.0])            # along strike
        h = np.array([-np.sin(strike), np.cos(strike), 0.0])           # horizontal, towards the dip
        t = np.cos(dip) * h + np.array([0, 0, np.sin(dip)])            # down the dip, in the plane
        normal = np.sin(dip) * h - np.array([0, 0, np.cos(dip)])       # towards the hanging wall
        centre = np.array([rng.uniform(0.2, 0.8) * n, rng.uniform(0.2, 0.8) * n, rng.uniform(0.3, 0.7) * n])
        rx, ry, rz = x - centre[0], y - centre[1], z - centre[2]
        side = rx * normal[0] + ry * normal[1] + rz * normal[2]
        a = rx * s[0] + ry * s[1]
        b = rx * t[0] + ry * t[1] + rz * t[2]
        reach_a, reach_b = rng.uniform(0.6, 1.6) * n, rng.uniform(0.6, 1.6) * n
        slip = rng.uniform(3, 14) * np.clip(1 - (a / reach_a) ** 2 - (b / reach_b) ** 2, 0, None)
        label |= (np.abs(side) < 0.5) & (slip * np.sin(dip) >= 1)
        sense = 1 if rng.uniform() < 0.75 else -1  # normal: the hanging wall slid down the dip
        moved = side > 0
        for coordinate, component in ((x, t[0]), (y, t[1]), (z, t[2])):
            coordinate[moved] -= sense * slip[moved] * component
    # Folding and a wedge: the depth in the unfolded layers.
    wedge = 1 + rng.uniform(-0.3, 0.3) * (x - n / 2) / n + rng.uniform(-0.3, 0.3) * (y - n / 2) / n
    folds = fold_shift(rng, x, y)
    series = impedance_series(rng, 3 * n)

    def log_impedance(depth):
        return np.interp(depth * wedge - (depth / n) * folds + n, np.arange(3 * n, dtype=float), series)

    if below:
        sampled = log_impedance(z)
        reflectivity = np.diff(sampled, axis=2, prepend=sampled[:, :, :1]) / 2
    else:
        reflectivity = centred_reflectivity(log_impedance, z)
    # Wavelet: a band-pass with a phase rotation, applied along time.
    frequencies = np.fft.rfftfreq(n)
    centre_period = rng.uniform(7, 16)
    low, high = 1 / centre_period / rng.uniform(1.5, 2.5), 1 / centre_period * rng.uniform(1.5, 2.5)
    response = butterworth(frequencies, low, high, rng.integers(2, 5), rng.integers(2, 7))
    response = response * np.exp(1j * np.radians(rng.uniform(-45, 45)))
    seismic = np.fft.irfft(np.fft.rfft(reflectivity, axis=2) * response, n=n, axis=2)
    noise = rng.normal(size=seismic.shape)
    noise = np.fft.irfft(np.fft.rfft(noise, axis=2) * butterworth(frequencies, low / 2, min(high * 1.5, 0.45), 2, 4),
                         n=n, axis=2)
    snr = rng.uniform(2, 8)
    seismic += noise * seismic.std() / (snr * noise.std())
    gain = np.exp(0.2 * np.sin(2 * np.pi * x / rng.uniform(80, 300) + rng.uniform(0, 6)))
    seismic *= gain
    seismic = (seismic - seismic.mean()) / seismic.std()
    return seismic.astype(np.float32), label.astype(np.float32)


def write_segy(path, volume, interval_us=4000):
    """volume: (inlines, crosslines, samples), big-endian IEEE floats, inline / crossline at bytes 189 / 193."""
    inlines, crosslines, samples = volume.shape
    with open(path, "wb") as f:
        f.write(b"C 1 strata second fault generator".ljust(3200, b" "))
        binary = bytearray(400)
        struct.pack_into(">h", binary, 16, interval_us)  # bytes 3217-3218
        struct.pack_into(">h", binary, 20, samples)      # bytes 3221-3222
        struct.pack_into(">h", binary, 24, 5)            # bytes 3225-3226: IEEE float
        struct.pack_into(">h", binary, 300, 0x0100)      # bytes 3501-3502: SEG-Y revision 1
        struct.pack_into(">h", binary, 304, 0)           # bytes 3505-3506: no extended textual headers
        f.write(binary)
        for i in range(inlines):
            for j in range(crosslines):
                header = bytearray(240)
                struct.pack_into(">i", header, 0, i * crosslines + j + 1)  # trace sequence number
                struct.pack_into(">h", header, 114, samples)
                struct.pack_into(">h", header, 116, interval_us)
                struct.pack_into(">i", header, 188, i + 1)                   # inline
                struct.pack_into(">i", header, 192, j + 1)                   # crossline
                struct.pack_into(">i", header, 180, j * 25)                  # CDP X
                struct.pack_into(">i", header, 184, i * 25)                  # CDP Y
                f.write(header)
                f.write(volume[i, j].astype(">f4").tobytes())


def write_cubes(args, default_seed, make, usage):
    """The command line OUT [CUBES (4)] [SEED] [SIZE (128)] of a cube generator: writes CUBES pairs of cubes from
    make(rng, size) -> (seismic, label, note), each cube drawn from its own generator seeded by (SEED, index)."""
    if len(args) < 1 or len(args) > 4 or any(a.startswith("-") for a in args):
        sys.exit(usage)
    out = args[0]
    count = int(args[1]) if len(args) > 1 else 4
    seed = int(args[2]) if len(args) > 2 else default_seed
    size = int(args[3]) if len(args) > 3 else 128
    os.makedirs(out, exist_ok=True)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        seismic, label, note = make(rng, size)
        write_segy(os.path.join(out, f"cube_{i}.sgy"), seismic)
        write_segy(os.path.join(out, f"cube_{i}_faults.sgy"), label)
        print(f"{out}/cube_{i}.sgy: {size}^3, fault samples {label.mean():.4f}{note}")


def main():
    below = "--below" in sys.argv[1:]
    args = [a for a in sys.argv[1:] if a != "--below"]
    write_cubes(args, 7, lambda rng, size: (*cube(rng, size, below), ""), __doc__)


if __name__ == "__main__":
    main()
