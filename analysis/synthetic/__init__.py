"""A synthetic Allen Brain Observatory (Visual Coding 2P) written in Allen's own layout.

:func:`build_synthetic_cache` writes a complete AllenSDK ``BrainObservatoryCache``
folder that the *unmodified* AllenSDK reads (``get_experiment_containers``,
``get_ophys_experiments``, ``get_ophys_experiment_data``,
``get_ophys_experiment_events``, ``get_cell_specimens``, the NWB accessors).
Only provenance tells it apart from the real data: ``"source": "synthetic"`` in
every JSON record, a ``general/source`` dataset in every NWB file and a
``provenance.json`` at the root (generator, preset, seed, parameters, stimulus
sources). Everything is a deterministic function of ``(preset, seed, plant)``.

Layout (relative to the root)::

    manifest.json                         written by BrainObservatoryCache itself
    experiment_containers.json            one record per container (Allen's fields)
    ophys_experiments.json                one record per session
    cell_specimens.json, stimulus_mappings.json
    ophys_experiment_data/<id>.nwb        NWB 1.x-style HDF5 (h5py, fixed-length byte strings)
    ophys_experiment_events/<id>_events.npz   key "ev": float32 (cells, frames) L0-like events
    provenance.json

Session design (Allen's three-session design, reduced to what matters here)
---------------------------------------------------------------------------
Every container has ``three_session_A``, ``three_session_B`` and
``three_session_C`` experiments. Natural Movie One (900 frames at 30 frames/s,
10 consecutive repeats, one stimulus-table row per displayed movie frame) is in
all three; Natural Scenes (118 images plus the blank, ``frame == -1``, each 50
times in random order, 250 ms each with no grey gap, i.e. 7-8 two-photon
frames) only in B, in three epochs as in the real session. A short
``spontaneous`` (grey screen) epoch is included too. The other stimuli of the
real sessions (gratings, sparse noise, movies two and three) and their time
are left out to keep the files small, so ``list_stimuli()`` returns only
``natural_scenes``/``natural_movie_one``/``spontaneous``. Imaging runs at
30.08 Hz against a 60 Hz display, so stimulus-table ``start``/``end`` are
two-photon frame indices exactly as in the real tables.

Written per NWB file: ``general`` metadata read by ``get_metadata()``,
``DfOverF`` (cells x frames, float32, stored with 2 decimal digits (HDF5 scale-offset filter)) and its
timestamps, ``Fluorescence`` timestamps (a hard link; raw fluorescence traces,
ROI masks, neuropil, running speed and motion correction are not written),
``ImageSegmentation/cell_specimen_ids`` and ``roi_ids``, stimulus presentation
tables. The stimulus templates (``natural_scenes`` uint8 118 x 918 x 1174 and
``natural_movie_one`` uint8 900 x 304 x 608, from :mod:`analysis.stimuli`) are
written **only** into the session-B file of experiment
``study.TEMPLATE_EXPERIMENT_ID`` (501498760), the one the original study read
its templates from: a copy in every file would exceed the size budget. The
``small`` preset writes smaller templates (118 x 92 x 118 and 900 x 32 x 64);
the item counts, and hence all stimulus tables, are unchanged.

Neural model (one population per container, shared by its three sessions)
-------------------------------------------------------------------------
Stimulus features are computed once per stimulus on a coarse grid
(24 x 31 for scenes, 16 x 32 for the movie; positions are in units of the image
height/width so one receptive field covers the same part of either stimulus):
luminance increments and decrements (ON/OFF), local oriented energy at four
orientations (squared directional derivatives), coarse contrast energy
(|image - Gaussian blur|) and, for the movie, temporal-change energy
(|frame t - frame t-1|). Each channel is scaled to unit standard deviation.

Each neuron has

* a Gaussian receptive field at a uniform random position with area-dependent
  size (sigma, fraction of the image height: VISp 0.06 < VISl 0.09, VISal 0.10
  < VISpm 0.14 < VISam 0.16, log-normal jitter 20 %);
* a feature preference: Dirichlet(0.3) weights over the feature channels (most
  neurons are dominated by one channel);
* a static response per stimulus item: its drive (RF-weighted feature sum),
  z-scored over the items of that stimulus, passed through a threshold
  power-law ``amp * max(0, z - theta)**p`` (theta ~ U(0.3, 1.3), p ~ U(1.5, 2.5))
  -> sparse, selective responses; 25 % of neurons have 10x weaker responses;
* a response latency (VISp 2, others 3 two-photon frames, +0/1 jitter) and an
  exponential temporal integration kernel (time constant VISp 2, VISl/VISal 4,
  VISpm 6, VISam 8 frames, log-normal jitter 25 %) applied to the response time
  course (so 250-ms scenes blend into each other and the movie is smoothed,
  more in higher areas);
* responses to the continuous movie scaled by 0.12 relative to flashed
  scenes (adaptation to continuous stimulation);
* trial-to-trial variability: a multiplicative log-normal gain per neuron and
  trial unit (one scene presentation, or a 30-frame = 1-s chunk of a movie
  repeat, or 8 frames of grey; sigma 0.5 at 175 um, 0.6 at 275 um) times a
  log-normal gain shared by the population per trial unit (sigma 0.25, "brain
  state");
* a spontaneous rate of 0.002-0.01 events per frame.

Events: the expected rate ``lambda`` per two-photon frame is the filtered,
gain-modulated response plus the spontaneous rate; the number of events in a
frame is Poisson(``lambda``) and each event has a Gamma(2, 0.5) x cell-scale
amplitude, so the L0-like trace is mostly zeros with positive amplitudes.
Responses at 275 um are 15 % weaker and noisier than at 175 um. dF/F is the
event train convolved with a GCaMP6f-like exponential (tau 0.7 s) plus white
noise (sd 0.005). Each session images a random 92-108 % of the nominal number
of neurons out of the container's pool (1.15 x nominal), so a neuron appears in
up to three sessions with the same cell_specimen_id and tuning. With the
original protocol the split-half noise ceilings (median tau-a, default preset,
seed 0) are 0.44-0.58 for scenes and 0.39-0.57 for the movie: well below 1,
clearly above 0 (``benchmarks/bench_synthetic.py --ceilings``).

Planting a known answer
-----------------------
``plant=Plant(area, features, weight, gain)`` makes the neurons of one area
(optionally one depth) be driven by given stimulus features: ``features`` maps
a stimulus name to an array ``(items, k)`` (118 scenes / 900 movie frames) or is
a callable ``(stimulus, template) -> (items, k)``. Each neuron's drive becomes
``sqrt(weight) * z_planted + sqrt(1 - weight) * z_model`` with ``z_planted`` a
random projection of the planted features, and its response amplitude is
multiplied by ``gain`` (more events -> more reliable). ``mode="standardize"``
(the default, the original path) standardises every feature column over items
and z-scores each neuron's drive; ``mode="geometry"`` keeps the features'
geometry instead (:func:`geometry_drive`: each item's pattern centred and
unit-normed, one Gaussian direction per neuron, so two items' drives correlate
over neurons exactly as their feature patterns do). ``response="rectified"``
replaces the sparse threshold power law of the planted items by
``amp * max(0, drive + 0.5)`` (denser code; still monotone). The ``planted``
preset (VISp only, 4 containers of 120 cells) is meant for recovery checks.
The data without a plant do not depend on any of this (byte-identical).
The planted arrays' hashes, mode and response go into ``provenance.json``.
"""

# The package, one module per step of the generator:
#   design    constants, area and depth parameters, presets, Plant, session stimuli
#   maps      stimulus feature maps
#   timeline  session timelines and stimulus tables
#   neurons   population model and simulate_session
#   records   ids, container specs, JSON records
#   nwb       the NWB writer
#   build     build_synthetic_cache, ensure_synthetic_cache, cache_description

from .build import (GENERATOR_VERSION, _build_into, _clean_stale, _plant_summary, _templates,  # noqa: F401
                    _write_json, _write_npz_deterministic, build_synthetic_cache, cache_description,
                    ensure_synthetic_cache)
from .design import (_BASE_MOVIE, _BASE_STATIC, BASE_STIMULI, DEPTH_AMPLITUDE, DFF_NOISE,  # noqa: F401
                     DFF_TAU_S, DISPLAY_RATE, EXTRA_STREAM, GAIN_SIGMA, IMAGING_RATE, LATENCY_FRAMES,
                     MOVIE_CHUNK, MOVIE_DISPLAY_FRAMES, MOVIE_GAIN, MOVIE_GRID, MOVIE_REPEATS, N_CHANNELS,
                     PLANT_MODES, PLANT_OFFSET, PLANT_RESPONSES, PRESETS, REPORTER, RF_SIGMA,
                     SCENE_DISPLAY_FRAMES, SCENE_GRID, SCENE_REPEATS, SESSION_TYPES, SHARED_GAIN_SIGMA,
                     TAU_FRAMES, TTA, Plant, Preset, _rng, depth_amplitude, depth_cell_factor,
                     extra_stimuli, gain_sigma, session_stimuli)
from .maps import _resize, stimulus_features  # noqa: F401
from .neurons import (Population, _drive, _gaussian_rfs, _zscore, geometry_drive,  # noqa: F401
                      make_population, simulate_session)
from .nwb import _GZ, _s, _write_nwb  # noqa: F401
from .records import (_AREA_NAMES, ContainerSpec, _container_record, _container_rows,  # noqa: F401
                      _container_specs, _experiment_record, _genotype, _specimen, _stable_int, _structure,
                      _transgenic_lines)
from .timeline import Timeline, _append, _extra_timeline, _session_timeline  # noqa: F401
