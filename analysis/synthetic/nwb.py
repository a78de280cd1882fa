"""The NWB 1.x-style HDF5 file of one session (what AllenSDK's BrainObservatoryNwbDataSet reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .design import IMAGING_RATE
from .records import ContainerSpec, _genotype, _specimen
from .timeline import Timeline


def _s(value: str) -> np.bytes_:
    """Fixed-length byte string (what AllenSDK's readers expect)."""
    return np.bytes_(value.encode("utf-8"))


_GZ = dict(compression="gzip", compression_opts=4)  # uint8 templates: shuffle does not help


def _write_nwb(path: Path, c: ContainerSpec, st: str, cell_ids: np.ndarray, dff: np.ndarray,
               tl: Timeline, templates: Mapping[str, np.ndarray] | None, shown: Sequence[str],
               quantized: bool = False) -> None:
    """Write one session's NWB file. ``quantized``: ``dff`` is already on a grid of 1/128
    (survey presets), stored losslessly with shuffle + gzip (a scale-offset filter costs ~3x
    the time); otherwise it is stored with 2 decimal digits (HDF5 scale-offset filter)."""
    import h5py

    eid = c.experiment_ids[st]
    acq = np.datetime64(c.acquisition[st].rstrip("Z"))
    start_str = acq.astype("datetime64[s]").item().strftime("%a %b %d %H:%M:%S %Y")
    age_days = int((acq.astype("datetime64[D]") - np.datetime64(c.birth)).astype(int))
    ts = np.arange(tl.n_frames, dtype=np.float64) / IMAGING_RATE + 8.0
    with h5py.File(path, "w", track_order=False) as f:
        def ds(name, value, **kw):
            return f.create_dataset(name, data=value, track_times=False, **kw)

        ds("nwb_version", _s("NWB-1.0.5"))
        ds("identifier", _s(f"synthetic-{eid}"))
        ds("session_description", _s(f"synthetic stand-in for ophys experiment {eid} ({st})"))
        ds("session_start_time", _s(start_str))
        ds("file_create_date", _s(start_str))
        g = "general/"
        ds(g + "source", _s("synthetic"))
        f["general"].attrs["source"] = _s("synthetic")
        ds(g + "session_type", _s(st))
        ds(g + "session_id", _s(str(eid)))
        ds(g + "experiment_container_id", _s(str(c.container_id)))
        ds(g + "specimen_name", _s(_specimen(c)["name"]))
        ds(g + "fov", _s("400x400 microns (512 x 512 pixels)"))
        ds(g + "devices/2-photon microscope", _s(
            "Nikon A1R-MP multiphoton microscope. CAM2P.synthetic Please note: synthetic stand-in data."))
        ds(g + "generated_by", np.array([_s("Allen Institute for Brain Science"),
                                         _s("analysis.synthetic (synthetic stand-in)"), _s("3.0")]))
        ds(g + "subject/age", _s(f"{age_days} days"))
        ds(g + "subject/sex", _s(c.sex))
        ds(g + "subject/genotype", _s(_genotype(c.cre_line)))
        ip = g + "optophysiology/imaging_plane_1/"
        ds(ip + "imaging depth", _s(f"{c.depth} microns"))
        ds(ip + "location", _s(c.area))
        ds(ip + "excitation_lambda", _s("910 nanometers"))
        ds(ip + "indicator", _s("GCaMP6f"))
        pipe = "processing/brain_observatory_pipeline/"
        n, T = dff.shape
        chunks = (min(n, 32), min(T, 8192))
        if quantized:
            ds(pipe + "DfOverF/imaging_plane_1/data", dff, chunks=chunks, compression="gzip", compression_opts=1,
               shuffle=True)
        else:
            ds(pipe + "DfOverF/imaging_plane_1/data", dff, chunks=chunks, scaleoffset=2,
               compression="gzip", compression_opts=4, shuffle=True)
        ds(pipe + "DfOverF/imaging_plane_1/timestamps", ts)
        ds(pipe + "DfOverF/imaging_plane_1/roi_names", np.array([_s(f"roi_{i}") for i in range(n)]))
        f.require_group(pipe + "Fluorescence/imaging_plane_1")
        f[pipe + "Fluorescence/imaging_plane_1/timestamps"] = f[pipe + "DfOverF/imaging_plane_1/timestamps"]
        ds(pipe + "ImageSegmentation/cell_specimen_ids", cell_ids.astype(np.int64))
        ds(pipe + "ImageSegmentation/roi_ids", np.array([_s(f"roi_{i}") for i in range(n)]))
        f.require_group(pipe + "ImageSegmentation/imaging_plane_1")
        for name, (data, frames) in tl.tables.items():
            if name not in shown:
                continue
            p = f"stimulus/presentation/{name}_stimulus/"
            ds(p + "data", np.asarray(data, np.int64))
            ds(p + "frame_duration", np.asarray(frames, np.float64))
            ds(p + "num_samples", np.int64(len(data)))
        if templates:
            for name, arr in templates.items():
                ds(f"stimulus/templates/{name}_image_stack/data", arr,
                   chunks=(1,) + arr.shape[1:], **_GZ)
