"""A simulated book: the synthetic marketplace run forward through the real services.

``sme-credit simulate`` (docs/simulation.md) drives the records, decisions and lending
services on a store in simulated time: orders arrive, sellers apply, approved sellers
draw and repay as their hidden health says, end of day closes every day. Not to be
confused with :mod:`lending.simulation`, which replays a credit policy over scored
sellers without a store.
"""

from simulation.book import Book, read_book
from simulation.champion import ensure_champion
from simulation.run import Simulation, SimulationConfig, simulate

__all__ = ["Book", "read_book", "ensure_champion", "Simulation", "SimulationConfig",
           "simulate"]
