"""RSA of rat- and treeshrew-trained two-pathway video networks against mouse visual cortex.

The pipeline, one module per concept::

    stimuli  -> features (models, checkpoints) -> RDMs
    recordings (allen, synthetic) -> responses -> RDMs
    RDMs -> compare (tau-a), noise ceilings, statistics -> tidy tables -> figures, book

Run ``python -m analysis --help`` for the command-line interface.
"""

import warnings as _warnings

__version__ = "0.1.0"

# AllenSDK 2.16.2 imports pkg_resources, whose import warns (UserWarning) on every command
# that touches AllenSDK, in worker processes and chapter kernels too. The pin
# setuptools<81 keeps pkg_resources available; silence exactly that message, from AllenSDK.
_warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated as an API",
                         category=UserWarning, module=r"allensdk(\.|$)")
