"""An independent reference for the kit's DICOM reading (src/lib/data/dicom.ts, via decodeXray).

Copies a few small real DICOM files from pydicom's own test data, writes a few synthetic chest
X-ray DICOMs made from a real Kermany JPEG, decodes every one of them with pydicom and NumPy (not
with dicom-parser or sharp, which the kit uses) under the rules below, and stores the expected
8-bit pixels as PNG files. test/data/dicom-reference.test.ts decodes the same files with the kit
and compares within +-1 grey level. The kit never imports Python; this is a tool for whoever
changes the DICOM reader.

The rules, in the order radiology viewers apply them (dicom.ts says the same):
1. Stored values: Bits Stored are kept (higher bits masked off), and with Pixel Representation 1
   sign-extended (pydicom's pixel_array does both).
2. Modality: value * Rescale Slope + Rescale Intercept (pydicom.pixels.apply_modality_lut).
3. VOI: Window Center/Width, the first value when multi-valued, with the VOI LUT Function
   (LINEAR by default, LINEAR_EXACT, SIGMOID) as pydicom.pixels.apply_windowing computes it,
   mapped linearly from pydicom's output range to 0..255. Without a window, the kit's percentile
   rule (tools/decode_reference.py's window(): 0.5th..99.5th percentile -> 0..255). An 8-bit
   unsigned image with no rescale and no window keeps its values, as any 8-bit image does.
4. MONOCHROME1 (bright = low values): 255 - pixel, after the window.
5. Colour (RGB, or YCbCr inside a JPEG): luminance as libvips computes it (decode_reference.py).
Rounding: floor(v + 0.5), clipped to 0..255.

Tolerance: +-1 grey level (the kit rounds in float64 as well, but the percentile interpolation,
the sigmoid's exp() and libvips' 8-bit colour tables may differ in the last bit). A missing
rescale, sign, mask, inversion or window is off by tens of levels.

Fixtures from pydicom (MIT licence; its test files README says the files may be used this way):
chosen to be small and to cover one transfer syntax or pixel rule each. MONOCHROME1 files are not
in the wheel, so a synthetic one is written. Nothing is downloaded: the files come from the
installed pydicom wheel, and the chest X-ray from the shared Kermany copy (CC BY 4.0).

Regenerate (from the repository root):
    python3 -m venv /tmp/dcmvenv && /tmp/dcmvenv/bin/pip install pydicom numpy pillow
    /tmp/dcmvenv/bin/python tools/dicom_reference.py [--xrays ../shared/data/chest_xray]
"""

import argparse
import io
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut, apply_windowing
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    SecondaryCaptureImageStorage,
    generate_uid,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decode_reference import round_half_up, srgb_luminance, window  # noqa: E402  (one statement of the percentile rule)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "dicom"
TOLERANCE = 1
DEFAULT_XRAYS = ROOT.parent / "shared" / "data" / "chest_xray"
CHEST = "test/NORMAL/IM-0001-0001.jpeg"
CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"

# Fake identity written into every synthetic file: the tests check it never reaches an error.
FAKE_PATIENT = {"PatientName": "Fakename^Kittest^Notreal", "PatientID": "FAKE-ID-0042", "PatientBirthDate": "19000101"}

# name -> what it checks; decoded and compared pixel by pixel.
FROM_PYDICOM = {
    "CT_small.dcm": "CT, explicit VR little endian, signed 16-bit, Rescale Intercept -1024, no window: percentile rule",
    "MR_small.dcm": "MR, explicit VR little endian, signed 16-bit, Window 600/1600",
    "MR_small_implicit.dcm": "the same MR, implicit VR little endian",
    "MR_small_bigendian.dcm": "the same MR, explicit VR big endian",
    "image_dfl.dcm": "deflated explicit VR little endian, 8-bit MONOCHROME2: values kept",
    "SC_rgb_jpeg_dcmtk.dcm": "JPEG baseline, YBR_FULL colour: luminance",
}
# name -> what it checks; the kit must refuse them with a clear error.
REFUSED_FROM_PYDICOM = {
    "JPEG2000.dcm": "JPEG 2000 (1.2.840.10008.1.2.4.91): unsupported transfer syntax",
    "MR_small_RLE.dcm": "RLE Lossless (1.2.840.10008.1.2.5): unsupported transfer syntax",
    "rtplan.dcm": "RT Plan: a DICOM file without Pixel Data",
    "rtdose.dcm": "RT Dose of 15 frames: multi-frame is refused",
}


# ---- the rules ---------------------------------------------------------------------------------


def expected_pixels(path):
    """The reference decode of one DICOM file -> (uint8 (H, W) grey, facts for the JSON)."""
    ds = pydicom.dcmread(path)
    photometric = ds.PhotometricInterpretation
    if ds.SamplesPerPixel == 3:
        rgb = ds.pixel_array.astype(np.float64)  # pydicom converts YBR to RGB
        return round_half_up(srgb_luminance(rgb)), {"voi": "none", "window": None, "inverted": False}
    stored = ds.pixel_array  # masked to Bits Stored, sign-extended
    has_rescale = float(ds.get("RescaleSlope", 1)) != 1 or float(ds.get("RescaleIntercept", 0)) != 0
    has_window = "WindowCenter" in ds and "WindowWidth" in ds
    if ds.BitsStored <= 8 and ds.PixelRepresentation == 0 and not has_rescale and not has_window:
        pixels, facts = stored.astype(np.uint8), {"voi": "none", "window": None}
    elif has_window:
        values = apply_modality_lut(stored, ds)
        y = apply_windowing(values.astype(np.float64), ds)
        # pydicom's output range is that of the stored type after rescale (see apply_windowing).
        y_min, y_max = output_range(ds)
        pixels = round_half_up((y - y_min) * (255.0 / (y_max - y_min)))
        facts = {"voi": f"window {(ds.get('VOILUTFunction') or 'LINEAR')}", "window": first_window(ds)}
    else:
        values = apply_modality_lut(stored, ds).astype(np.float64)
        pixels, low, high = window(values)
        facts = {"voi": "percentile", "window": [low, high]}
    inverted = photometric == "MONOCHROME1"
    if inverted:
        pixels = 255 - pixels
    return pixels, {**facts, "inverted": inverted}


def output_range(ds):
    """apply_windowing's y_min, y_max (PS3.3 C.11.2.1.2: the range of the modality output)."""
    if ds.PixelRepresentation == 0:
        y_min, y_max = 0, 2**ds.BitsStored - 1
    else:
        y_min, y_max = -(2 ** (ds.BitsStored - 1)), 2 ** (ds.BitsStored - 1) - 1
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        y_min = y_min * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        y_max = y_max * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return y_min, y_max


def first_window(ds):
    def first(v):
        return float(v[0]) if isinstance(v, pydicom.multival.MultiValue) else float(v)

    return [first(ds.WindowCenter), first(ds.WindowWidth)]


# ---- the synthetic chest X-rays -----------------------------------------------------------------


def new_dataset(name, rows, cols, syntax=ExplicitVRLittleEndian, sop_class=CR_IMAGE_STORAGE):
    """A minimal single-frame image dataset with fixed UIDs (so regenerating changes nothing)."""
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = syntax
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["convnext-xray-kit", name])
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["convnext-xray-kit", "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["convnext-xray-kit", "series", name])
    ds.Modality = "CR" if sop_class == CR_IMAGE_STORAGE else "OT"
    ds.BodyPartExamined = "CHEST"
    for k, v in FAKE_PATIENT.items():
        setattr(ds, k, v)
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    return ds


def grey(xrays, size=None):
    im = Image.open(xrays / CHEST).convert("L")
    if size is not None:
        im = im.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(im).astype(np.int64)


def write_synthetic(xrays):
    made = {}

    # Like the case file shared/cases/images/normal.dcm: 8-bit CR, MONOCHROME2, explicit VR LE.
    g = grey(xrays)
    ds = new_dataset("chest_cr_8bit", *g.shape)
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = g.astype(np.uint8).tobytes()
    ds.save_as(OUT / "chest_cr_8bit.dcm", enforce_file_format=True)
    made["chest_cr_8bit.dcm"] = f"synthetic CR from the Kermany {CHEST}, 8-bit MONOCHROME2, explicit VR LE: values kept"

    # The same X-ray as a grey JPEG baseline, split over two fragments.
    buf = io.BytesIO()
    Image.fromarray(g.astype(np.uint8), "L").save(buf, format="JPEG", quality=90, optimize=False, progressive=False)
    ds = new_dataset("chest_jpeg_baseline", *g.shape, syntax=JPEGBaseline8Bit)
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.LossyImageCompression = "01"
    ds.PixelData = encapsulate([buf.getvalue()], fragments_per_frame=2, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds.save_as(OUT / "chest_jpeg_baseline.dcm", enforce_file_format=True)
    made["chest_jpeg_baseline.dcm"] = "synthetic CR, grey JPEG baseline in two fragments"

    # MONOCHROME1 (bright = low), 12 bits stored in 16 with junk in the top 4 bits, a rescale, and
    # two windows (the first applies).
    g = grey(xrays, 112)
    stored = (255 - g) * 15 + 40  # 40..3865, bone low
    junk = (np.arange(stored.size).reshape(stored.shape) * 7919 % 16) << 12
    ds = new_dataset("chest_cr_mono1_12bit", *g.shape)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = "0.5", "-100", "US"
    ds.WindowCenter, ds.WindowWidth = ["850", "1000"], ["1500", "500"]
    ds.PixelData = (stored | junk).astype("<u2").tobytes()
    ds.save_as(OUT / "chest_cr_mono1_12bit.dcm", enforce_file_format=True)
    made["chest_cr_mono1_12bit.dcm"] = "synthetic CR, MONOCHROME1, 12 of 16 bits with junk above, rescale 0.5/-100, two windows"

    # Signed 14-bit with negative values and a SIGMOID window; unsigned with LINEAR_EXACT.
    g = grey(xrays, 48)
    ds = new_dataset("chest_dx_signed_sigmoid", *g.shape)
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 14, 13, 1
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = "-500", "3000", "SIGMOID"
    signed = g * 28 - 4000  # -4000..3140
    ds.PixelData = (signed & 0x3FFF).astype("<u2").tobytes()  # two's complement in 14 bits, top bits 0
    ds.save_as(OUT / "chest_dx_signed_sigmoid.dcm", enforce_file_format=True)
    made["chest_dx_signed_sigmoid.dcm"] = "synthetic DX, signed 14 of 16 bits (sign bit 13), SIGMOID window"

    ds = new_dataset("chest_dx_linear_exact", *g.shape)
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = "30000", "41000", "LINEAR_EXACT"
    ds.PixelData = (g * 250 + 3).astype("<u2").tobytes()
    ds.save_as(OUT / "chest_dx_linear_exact.dcm", enforce_file_format=True)
    made["chest_dx_linear_exact.dcm"] = "synthetic DX, unsigned 16-bit, LINEAR_EXACT window"
    return made


# ---- main --------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--xrays", type=Path, default=Path(os.environ.get("XRAY_DATA", DEFAULT_XRAYS)), help="the Kermany folder (for the synthetic chest X-rays)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "expected").mkdir(exist_ok=True)
    src = Path(pydicom.__file__).parent / "data" / "test_files"

    decoded = {}
    for name, what in FROM_PYDICOM.items():
        shutil.copyfile(src / name, OUT / name)
        decoded[name] = {"what": what, "source": f"pydicom {pydicom.__version__} data/test_files/{name}"}
    for name, what in write_synthetic(args.xrays).items():
        decoded[name] = {"what": what, "source": f"tools/dicom_reference.py from the Kermany {CHEST} (CC BY 4.0)"}
    refused = {}
    for name, what in REFUSED_FROM_PYDICOM.items():
        shutil.copyfile(src / name, OUT / name)
        refused[name] = {"what": what, "source": f"pydicom {pydicom.__version__} data/test_files/{name}"}

    for name, entry in decoded.items():
        pixels, facts = expected_pixels(OUT / name)
        png = f"expected/{Path(name).stem}.png"
        Image.fromarray(pixels, "L").save(OUT / png, optimize=True)
        ds = pydicom.dcmread(OUT / name, stop_before_pixels=True)
        entry.update({"width": int(pixels.shape[1]), "height": int(pixels.shape[0]), "transferSyntax": str(ds.file_meta.TransferSyntaxUID), "expected": png, **facts})
        print(f"{name:30s} {(OUT / name).stat().st_size:7d} bytes  {pixels.shape[1]}x{pixels.shape[0]}  mean {pixels.mean():6.1f}  {facts['voi']}{' inverted' if facts['inverted'] else ''}")
    for name in refused:
        ds = pydicom.dcmread(OUT / name, stop_before_pixels=True)
        refused[name]["transferSyntax"] = str(ds.file_meta.TransferSyntaxUID)
        print(f"{name:30s} {(OUT / name).stat().st_size:7d} bytes  refused: {refused[name]['what']}")

    # Self-check: the 8-bit synthetic file must give back the X-ray's own grey values.
    chest = np.asarray(Image.open(OUT / decoded["chest_cr_8bit.dcm"]["expected"]))
    assert (chest == grey(args.xrays)).all()

    doc = {
        "about": "Expected decodeXray() output at each image's own size (no resize), from tools/decode_reference.py's rules applied with pydicom + NumPy by tools/dicom_reference.py. Pixels: 8-bit grey PNG.",
        "pydicom": pydicom.__version__,
        "numpy": np.__version__,
        "tolerance": TOLERANCE,
        "fakePatient": FAKE_PATIENT,
        "images": decoded,
        "refused": refused,
    }
    (OUT / "expected.json").write_text(json.dumps(doc, indent=1) + "\n")
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"total {total} bytes in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
