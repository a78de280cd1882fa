"""RSA of rat- and treeshrew-trained two-pathway video networks against mouse visual cortex.

The pipeline, one module per concept::

    stimuli  -> features (models, checkpoints) -> RDMs
    recordings (allen, synthetic) -> responses -> RDMs
    RDMs -> compare (tau-a), noise ceilings, statistics -> tidy tables -> figures, book

Run ``python -m analysis --help`` for the command-line interface.
"""

__version__ = "0.1.0"
