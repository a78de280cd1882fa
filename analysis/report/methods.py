"""The methods chapter's numbers and sentences, computed from the study's definitions.

Every number the methods chapter states (areas, depths, windows, frames, trials, halves,
RDM and split counts, clip sizes) comes from :mod:`analysis.study`, the protocol of the
book's tables (:mod:`analysis.protocols`) and the provenance of those tables (the
``n_brain_rdms`` and ``n_splits`` the run used), so that editing a definition and
rebuilding changes the text with the numbers.
"""

from __future__ import annotations

from typing import Any

from analysis import protocols, study
from analysis.report.results import load_results, source_and_grid


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:g} s"


def methods_facts(source: str | None = None, grid: list[tuple[str, int]] | None = None) -> dict[str, Any]:
    """What the methods chapter states: the book's grid, protocol and run settings.

    Keys: ``stimuli`` (records), ``depths``, ``areas``, ``cre_line``, ``protocol``
    (:class:`~analysis.protocols.Protocol` of the reference tables), ``n_brain_rdms``,
    ``n_splits``, ``movie_bin`` (from the first table's provenance, else the defaults),
    ``clip_len``, ``frame_size``, ``imaging_rate``.
    """
    source, grid = source_and_grid(source, grid)
    names = list(dict.fromkeys(st for st, _ in grid))
    facts: dict[str, Any] = {
        "stimuli": [study.get_stimulus(n) for n in names], "depths": sorted({int(d) for _, d in grid}),
        "areas": list(study.AREAS), "cre_line": study.CRE_LINE,
        "protocol": protocols.get_protocol(protocols.DEFAULT_PROTOCOLS[0]),
        "n_brain_rdms": study.N_BRAIN_RDMS, "n_splits": study.N_SPLITS, "movie_bin": study.CLIP_LEN,
        "clip_len": study.CLIP_LEN, "frame_size": study.FRAME_SIZE, "imaging_rate": study.IMAGING_RATE_HZ,
    }
    if grid:
        _, prov = load_results(source, *grid[0])
        facts.update({k: prov[k] for k in ("n_brain_rdms", "n_splits", "movie_bin") if k in prov})
        if "protocol_settings" in prov:
            facts["protocol"] = protocols.Protocol(**prov["protocol_settings"])
    return facts


def recordings_text(facts: dict[str, Any]) -> str:
    """The "Recordings" paragraph (areas, depths, cre line, pooling)."""
    movies = [s for s in facts["stimuli"] if s.sessions_per_container > 1]
    p = facts["protocol"]
    pooling = ("Cells imaged in several sessions are matched by their cell specimen id and counted once."
               if p.match_cells else
               "Neurons of all sessions of all containers are concatenated along the neuron axis"
               + (f", so for {movies[0].label}, shown in {movies[0].sessions_per_container} sessions of each "
                  f"container, a cell can contribute up to {movies[0].sessions_per_container} times."
                  if movies else "."))
    return (
        "The recordings are the Visual Coding two-photon survey of the Allen Brain Observatory "
        f"[@devries2020]: mice expressing GCaMP6 under the {facts['cre_line']} cre line, imaged in "
        f"{len(facts['areas'])} visual areas ({', '.join(facts['areas'])}) at "
        f"{len(facts['depths'])} imaging depth{'s' if len(facts['depths']) > 1 else ''} "
        f"({_join([str(d) for d in facts['depths']])} µm). For each area and depth, every experiment "
        "container that passed Allen's quality control was used, and for each container every session "
        "that contains the stimulus. The signal is the L0-deconvolved event trace of each cell. "
        + pooling + " @tbl-counts lists what each analysis used.")


def stimulus_sentence(stim: study.Stimulus, facts: dict[str, Any]) -> str:
    """How one stimulus becomes a ``trials x conditions x neurons`` tensor, with its numbers."""
    p, rate = facts["protocol"], facts["imaging_rate"]
    latency = p.latency(stim)
    lag = f" starting {latency} two-photon frames ({_seconds(latency / rate)}) after onset" if latency else \
        " from the presentation's onset"
    if not stim.is_movie:
        w = p.window(stim)
        return (f"*{stim.label}* are {stim.n_frames} photographs, each shown {stim.presentations} times for "
                f"{_seconds(stim.frame_s)}. The response of a neuron to one presentation is the sum of its "
                f"events over {w} two-photon frames (about {_seconds(w / rate)}){lag}, giving a tensor of "
                f"{stim.presentations} trials × {stim.n_frames} conditions × neurons.")
    b = int(facts["movie_bin"])
    return (f"*{stim.label}* is a {stim.n_frames * stim.frame_s:g} s clip of {stim.n_frames} frames shown "
            f"{stim.presentations} times per session. The event value at each frame's onset"
            + (f" (shifted by {latency} frames)" if latency else "")
            + f", averaged over non-overlapping blocks of {b} frames, gives {stim.presentations} trials × "
            f"{stim.n_conditions(b)} conditions ({_seconds(b * stim.frame_s)} each) × neurons.")


def stimuli_text(facts: dict[str, Any]) -> str:
    """The "Stimuli and responses" paragraph, one sentence group per stimulus of the book."""
    return " ".join(stimulus_sentence(s, facts) for s in facts["stimuli"])


def networks_text(facts: dict[str, Any]) -> str:
    """The "Networks" paragraph (clip length, frame size, layers)."""
    n, size = facts["clip_len"], facts["frame_size"]
    movies = [f"{s.label} into {s.n_frames // n}" for s in facts["stimuli"] if s.is_movie]
    cut = f"; {_join(movies)} consecutive clips" if movies else ""
    return (
        "The networks re-implement the two-pathway backbone of @bakhtiari2021, trained with dense "
        "predictive coding [@han2019] on rat-like or treeshrew-like video, five seeds per species. Each "
        f"stimulus is converted to clips of {n} frames of {size} × {size} pixels (each frame scaled to "
        "[0, 1], resized with antialiasing"
        + (", its aspect ratio kept by padding" if facts["protocol"].keep_aspect else "")
        + ", copied to three channels and normalised with the checkpoint's statistics); an image "
        f"is a static clip of {n} identical frames{cut}. The activations of each layer (`s1`, the six "
        "residual blocks of each pathway, and `out`) form that layer's response pattern. A pixel "
        "baseline uses the clip itself, averaged over channels and time, as a \"layer\".")


def rdm_text(facts: dict[str, Any]) -> str:
    """The "RDMs, similarity and noise ceiling" paragraphs (counts of RDMs, halves, splits)."""
    p, k, n = facts["protocol"], facts["n_brain_rdms"], facts["n_splits"]
    halves = _join([f"{s.presentations // 2} of {s.presentations} for {s.label}" for s in facts["stimuli"]])
    if p.brain_rdms == "halves":
        brain = (f"For the brain, {k} RDMs are computed from the area's pooled cells, each from the mean "
                 f"over a random half of the trials ({halves}). The similarity between a layer and an "
                 f"area is Kendall's $\\tau_a$ [@kendall1938] between the layer's RDM and each brain RDM, "
                 f"averaged over the {k}.")
    else:
        brain = ("For the brain, each experiment container's all-trial RDM is one subject's RDM; the "
                 "similarity between a layer and an area is Kendall's $\\tau_a$ [@kendall1938] between "
                 "the layer's RDM and each container's RDM, averaged over the containers.")
    ceiling = {
        "row0": (f"The noise ceiling of an area is computed as the original's code computed it, from {n} "
                 "random splits of the trials into two halves: Kendall's $\\tau_a$ between row 0 of the "
                 "two halves' RDMs, that is between the dissimilarities of condition 0 (the first image or "
                 "the first clip) to the other conditions, reported as the median over splits with a band "
                 "of ±1 SD. (The original's text describes $\\tau_a$ between the halves' full RDMs; its "
                 "code, with rsatoolbox 0.1.5 reading each half's condition × condition matrix as one RDM "
                 "per row, compared the first row only.) It therefore rests on one condition's reliability "
                 "and is noisier than a full-RDM ceiling; @sec-robustness shows both. No Spearman–Brown "
                 "correction [@spearman1910; @brown1910] is applied."),
        "split_half": (f"The noise ceiling of an area is estimated from {n} random splits of the trials "
                       "into two halves: $\\tau_a$ between the two halves' RDMs, reported as the median "
                       "over splits with a band of ±1 SD. No Spearman–Brown correction "
                       "[@spearman1910; @brown1910] is applied; since the model is compared with "
                       "half-trial RDMs, the split-half ceiling is on the same footing as the scores."),
        "spearman_brown": (f"The noise ceiling is estimated from {n} random splits of the trials into two "
                           "halves: $\\tau_a$ between the two halves' RDMs, Spearman–Brown corrected "
                           "[@spearman1910; @brown1910] to the full number of trials, reported as the "
                           "median over splits with a band of ±1 SD."),
    }.get(p.ceiling, f"The noise ceiling uses the `{p.ceiling}` estimator over {n} random splits.")
    return (
        "An RDM holds, for every pair of conditions, the correlation distance (one minus the Pearson "
        "correlation across neurons or units) between their response patterns [@kriegeskorte2008; "
        f"@nili2014]. {brain} Across the five networks of a species the figures show the median as the "
        "marker and the standard deviation as the error bar.\n\n" + ceiling
        + " The noise-corrected figures divide every score by the median ceiling of its area.")
