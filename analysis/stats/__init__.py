"""Inference: bootstrap confidence intervals, paired species tests, FDR control.

Shapes and conventions
----------------------
* RDMs are vectorised upper triangles in rsatoolbox order, ``(n_rdms, n_pairs)``.
* ``model_rdms`` ``(n_models, n_pairs)``: every scored "model" (checkpoint x
  layer, and the pixel baseline); ``subject_rdms`` ``(n_subjects, n_pairs)``: one
  all-trial RDM per experiment container (or a single pooled RDM).
* A model's score is the mean over subjects of tau-a (:func:`analysis.compare.tau_a`)
  between its RDM and each subject's RDM.
* Every random draw comes from the ``numpy.random.Generator`` passed in.

Bootstrap (:func:`bootstrap_scores`)
------------------------------------
Each draw resamples

* **stimuli**: ``n_conditions`` conditions with replacement. An RDM is
  resampled by its rows and columns; the pair of a condition with its own copy
  is excluded (its dissimilarity is a trivial zero), exactly as rsatoolbox's
  ``bootstrap_sample_pattern`` / ``RDMs.subsample_pattern`` do (they set those
  entries to NaN, which tau-a drops). A pair drawn ``k`` times appears ``k``
  times (duplicated pairs tie with each other, as in rsatoolbox);
* **subjects**: containers with replacement (a subject drawn ``w`` times has
  weight ``w`` in the mean over subjects);

with the same resample for every model in the draw, so differences between
models (e.g. species) are paired. ``over`` chooses either or both; both
together (the default) is the conservative choice for generalising to new
stimuli and new animals. Percentile intervals (:func:`percentile_ci`).

Pooled-cell scores (:func:`bootstrap_pooled_scores`)
----------------------------------------------------
The pipeline's tables score models against the RDM of an area's cells *pooled* over
containers. Its bootstrap draws stimuli and containers the same way, but each draw
pools the drawn containers' cells (a container drawn twice counts twice) and
recomputes the brain RDM from per-container sufficient statistics
(:func:`pattern_sums`, :func:`pooled_rdm`), so the interval is one of the table's
score, not of a mean over per-container scores.

Species tests (:func:`species_tests`)
-------------------------------------
H0: rat- and treeshrew-trained networks score the same. Statistic: difference
of the species means over seeds (rat - treeshrew), per layer and at each
species' best layer (the maximum over layers of the species-mean score,
re-selected within every draw, so the selection is part of the statistic).
Its bootstrap distribution resamples stimuli and subjects (paired across
species: same resample) **and** the seeds within each species (networks are
the replicates of a training diet: a difference carried by one lucky seed
should not count). Two-sided p = ``min(1, 2 min(P(d <= 0), P(d >= 0)))`` with
the ``(count + 1) / (n_boot + 1)`` correction (the percentile-interval test:
p < alpha iff the 1 - alpha interval excludes 0). An exact permutation test
of species labels over the seeds (:func:`seed_permutation_p`; stimuli and
animals fixed) is reported beside it as ``p_seeds``. The main p-values are
FDR-controlled with Benjamini-Hochberg (:func:`fdr_bh`) over the family of
one table (all areas, layers and best-layer tests of one stimulus x depth).
"""

# The package, one module per concept:
#   resampling    condition pairs, stimulus resamples, percentile intervals, p-values, FDR
#   weighted_tau  the numba kernel: tau-a under each stimulus resample without resampling
#   bootstrap     bootstrap of scores (mean over subjects; pooled cells), score intervals
#   species       species tests, seed permutations, FDR columns

from .bootstrap import (_OVER, Bootstrap, Over, PatternSums, _nili, bootstrap_ceiling_sb,  # noqa: F401
                        bootstrap_pooled_scores, bootstrap_scores, pattern_sums, pooled_rdm, score_intervals)
from .resampling import (bootstrap_p, fdr_bh, n_conditions_of, pair_index, percentile_ci,  # noqa: F401
                         resample_columns)
from .species import _species_draws, add_fdr, seed_permutation_p, species_tests  # noqa: F401
from .weighted_tau import _dense_ranks, _jit, _weighted_kernel, weighted_tau_draws  # noqa: F401
