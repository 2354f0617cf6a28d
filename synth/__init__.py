"""The synthetic marketplace: sellers, orders and their true default outcomes.

Demo, test, benchmark and simulation data, not feature code: :mod:`synth.marketplace`
generates records that follow the record contract (:mod:`features.records`);
``docs/synthetic-marketplace.md`` tells its generative story.
"""

from synth.marketplace import *  # noqa: F403
from synth.marketplace import __all__ as __all__
