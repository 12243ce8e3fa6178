"""An independent reference for the kit's image decoding (src/lib/data/decode.ts, decodeXray).

Writes small input images of every kind the kit must read right, decodes them with Pillow and
NumPy (not with sharp/libvips, which the kit uses), applies the kit's documented rules, and
stores the expected 8-bit pixels. test/data/decode-reference.test.ts then decodes the same files
with the kit and compares. The kit never imports Python; this is a tool for whoever changes the
decoder.

The rules restated here (decode.ts says the same):
- EXIF Orientation is applied first (Pillow: ImageOps.exif_transpose).
- Colour becomes luminance as libvips computes it: the sRGB values are linearised with the sRGB
  curve, Y = 0.2126 R + 0.7152 G + 0.0722 B, and Y is encoded back with the sRGB curve.
- Transparency is flattened onto black (colour x alpha / 255, kept as whole 8-bit levels, the
  fraction dropped, as libvips stores it), then converted; a palette is expanded to its colours.
- CMYK without an embedded profile is read through the CMYK profile libvips assumes for such
  files (its built-in "cmyk" profile), with LittleCMS's perceptual intent (Pillow's ImageCms).
  A CMYK file has no colour without some profile; using the same one is what makes the two
  decoders comparable. The profile (about 1 MB) is not committed: it is taken from the installed
  sharp at generation time (or --cmyk-profile FILE).
- 8-bit images keep their values. Any other sample type (16-bit, 32-bit int, float) is windowed:
  low/high = numpy.percentile of the finite values at 0.5 and 99.5 (linear interpolation); if
  high <= low, low/high = min/max; pixel = floor(255 (v - low) / (high - low) + 0.5) clipped to
  0..255; NaN -> 0; an image of one value -> 0.

Tolerance: +-1 grey level. The two sides round at different places (libvips converts colour with
8-bit lookup tables and rounds after flattening and after the CMYK transform; this script works
in float64 and rounds once), and numpy's percentile interpolation may differ from the kit's in
the last bit. A wrong orientation, scaling or colour rule is off by tens of levels.

Regenerate (from the repository root, with node_modules installed):
    python3 -m venv /tmp/pilvenv && /tmp/pilvenv/bin/pip install pillow numpy
    /tmp/pilvenv/bin/python tools/decode_reference.py
"""

import argparse
import base64
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageCms, ImageOps

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "decode"
SIZE = 32
TOLERANCE = 1


def pattern(seed):
    """A smooth, asymmetric 32x32 picture in 0..1: a blob off centre, a ramp, and a bright bar in
    the top-left corner, so a rotation or a flip cannot go unnoticed."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) / (SIZE - 1)
    blob = np.exp(-((x - 0.62) ** 2 + (y - 0.4) ** 2) / (2 * 0.22**2))
    img = 0.1 + 0.55 * blob + 0.25 * x * (1 - y) + 0.03 * np.sin(7 * x + 5 * y + seed)
    img[2:5, 2:14] = 0.95
    return np.clip(img, 0, 1)


# ---- the rules ---------------------------------------------------------------------------------


def srgb_luminance(rgb):
    """(H, W, 3) sRGB values in 0..255 (float) -> grey 0..255 (float), as libvips does."""
    a = rgb / 255.0
    linear = np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)
    y = linear @ np.array([0.2126, 0.7152, 0.0722])
    return np.where(y <= 0.0031308, y * 12.92, 1.055 * y ** (1 / 2.4) - 0.055) * 255.0


def round_half_up(v):
    return np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8)


def window(values):
    """The kit's windowing of a non-8-bit image: returns (uint8 pixels, low, high)."""
    v = values.astype(np.float64)
    finite = v[np.isfinite(v)]
    low, high = (float(p) for p in np.percentile(finite, [0.5, 99.5]))
    if not high > low:
        low, high = float(finite.min()), float(finite.max())
    if not high > low:
        return np.zeros(v.shape, np.uint8), low, high
    with np.errstate(invalid="ignore"):
        t = (v - low) * (255 / (high - low))
    t = np.where(np.isnan(v), 0, t)
    return np.clip(np.floor(t + 0.5), 0, 255).astype(np.uint8), low, high


def to_grey(im):
    """A Pillow image (already upright) -> (uint8 pixels, window or None)."""
    if im.mode in ("F", "I", "I;16", "I;16B", "I;16L"):
        pixels, low, high = window(np.asarray(im))
        return pixels, [low, high]
    if im.mode == "L":
        return np.asarray(im).copy(), None
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA"):
        rgba = np.asarray(im.convert("RGBA")).astype(np.float64)
        # libvips keeps the flattened colour in 8 bits, dropping the fraction; so does the reference.
        rgb = np.floor(rgba[..., :3] * rgba[..., 3:4] / 255.0)
        return round_half_up(srgb_luminance(rgb)), None
    if im.mode == "RGB":
        return round_half_up(srgb_luminance(np.asarray(im).astype(np.float64))), None
    raise ValueError(f"no rule for mode {im.mode}")


def decode(path, cmyk_profile):
    im = ImageOps.exif_transpose(Image.open(path))
    if im.mode == "CMYK":
        transform = ImageCms.buildTransform(
            ImageCms.ImageCmsProfile(io.BytesIO(cmyk_profile)),
            ImageCms.createProfile("sRGB"),
            "CMYK",
            "RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
        )
        im = ImageCms.applyTransform(im, transform)
    return to_grey(im)


# ---- the inputs --------------------------------------------------------------------------------


def write_inputs():
    """Each input with a line on what it checks."""
    base = pattern(0)
    made = {}

    Image.fromarray(round_half_up(base * 255), "L").save(OUT / "gray8.png")
    made["gray8.png"] = "8-bit grey PNG: values kept exactly"

    # Stored turned a quarter to the left, with EXIF Orientation 6 ("rotate 90 clockwise to view").
    upright = round_half_up(base * 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.rot90(upright, 1).copy(), "L").save(OUT / "exif6.jpeg", quality=95, exif=exif.tobytes())
    made["exif6.jpeg"] = "grey JPEG stored sideways with EXIF Orientation 6: decoded upright"

    # 12-bit data in a 16-bit PNG, plus one hot pixel at full scale that must not set the window.
    g16 = np.round(base * 4095).astype(np.uint16)
    g16[20, 25] = 65535
    Image.fromarray(g16).save(OUT / "gray16.png")
    made["gray16.png"] = "16-bit PNG holding 12-bit data and one hot pixel of 65535"

    f01 = base.astype(np.float32)
    f01[30, 1] = np.nan
    Image.fromarray(f01, "F").save(OUT / "float01.tif")
    made["float01.tif"] = "32-bit float TIFF in 0..1 with one NaN pixel"

    fwide = (base * 4000 - 1000).astype(np.float32)
    fwide[5, 28] = 1e6
    Image.fromarray(fwide, "F").save(OUT / "float_wide.tif")
    made["float_wide.tif"] = "32-bit float TIFF in -1000..3000 (any unit) with one outlier of 1e6"

    i32 = np.round(base * 4080).astype(np.int32)
    Image.fromarray(i32, "I").save(OUT / "int32.tif")
    made["int32.tif"] = "32-bit integer TIFF in 0..4080"

    p1, p2 = pattern(1), pattern(2)
    cmyk = np.stack([p1 * 0.6, (1 - p2) * 0.5, p2 * 0.4, (1 - base) * 0.7], axis=-1)
    Image.fromarray(round_half_up(cmyk * 255), "CMYK").save(OUT / "cmyk.jpeg", quality=95)
    made["cmyk.jpeg"] = "CMYK JPEG without a profile"

    palette_colours = [(int(255 * t), int(180 * (1 - t)) + 40, int(120 + 100 * np.sin(6 * t))) for t in np.linspace(0, 1, 16)]
    pal = Image.fromarray(np.floor(base * 15.999).astype(np.uint8), "P")
    pal.putpalette([c for rgb in palette_colours for c in rgb])
    pal.save(OUT / "palette.png")
    made["palette.png"] = "palette PNG of 16 colours"

    rgba = np.stack([base, pattern(3), 1 - base, np.clip(0.2 + pattern(4), 0, 1)], axis=-1)
    rgba[:, :6, 3] = 0  # a fully transparent band on the left: black after flattening
    Image.fromarray(round_half_up(rgba * 255), "RGBA").save(OUT / "rgba.png")
    made["rgba.png"] = "RGBA PNG in colour with partial and full transparency"
    return made, upright


def libvips_cmyk_profile():
    """The ICC profile libvips uses for CMYK files that carry none, from the installed sharp."""
    script = (
        "const sharp = require('sharp');"
        "sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })"
        ".toColourspace('cmyk').withIccProfile('cmyk').jpeg().toBuffer()"
        ".then((b) => sharp(b).metadata()).then((m) => process.stdout.write(m.icc.toString('base64')));"
    )
    out = subprocess.run(["node", "-e", script], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return base64.b64decode(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cmyk-profile", type=Path, help="ICC profile for CMYK without one (default: libvips' built-in, via node and sharp)")
    args = parser.parse_args()
    cmyk_profile = args.cmyk_profile.read_bytes() if args.cmyk_profile else libvips_cmyk_profile()

    OUT.mkdir(parents=True, exist_ok=True)
    made, upright = write_inputs()
    expected = {}
    for name, what in made.items():
        pixels, win = decode(OUT / name, cmyk_profile)
        assert pixels.shape == (SIZE, SIZE), (name, pixels.shape)
        expected[name] = {
            "what": what,
            "width": SIZE,
            "height": SIZE,
            "window": win,
            "pixels": base64.b64encode(pixels.tobytes()).decode("ascii"),
        }
        print(f"{name:15s} {(OUT / name).stat().st_size:6d} bytes  mean {pixels.mean():6.1f}  window {win}")

    # Self-checks: the reference itself must see the EXIF image upright, and keep 8-bit exactly.
    exif = np.frombuffer(base64.b64decode(expected["exif6.jpeg"]["pixels"]), np.uint8).reshape(SIZE, SIZE)
    assert np.abs(exif.astype(int) - upright.astype(int)).max() <= 6, "exif6.jpeg is not upright after exif_transpose"
    gray8 = np.frombuffer(base64.b64decode(expected["gray8.png"]["pixels"]), np.uint8).reshape(SIZE, SIZE)
    assert (gray8 == upright).all()

    doc = {
        "about": "Expected decodeXray() output at 32 px (no resize), from tools/decode_reference.py (Pillow + NumPy). Pixels: base64 of 32x32 uint8, row-major.",
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "tolerance": TOLERANCE,
        "images": expected,
    }
    (OUT / "expected.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"expected.json   {(OUT / 'expected.json').stat().st_size:6d} bytes")


if __name__ == "__main__":
    main()
