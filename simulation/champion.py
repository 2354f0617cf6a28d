"""The first champion of a simulated book: a model trained before any line existed.

A lender starts without outcomes of its own, so its first model learns from another
population: here a separate synthetic marketplace (its own seed, as of the simulation's
first day) labelled by the generator's truth for the sellers its approval policy approved
(a lender knows the outcome of its own loans only), the way ``sme-credit demo`` trains
its model. It is registered in the MLflow store and promoted to ``champion`` (forced: there
is no champion to compare with). A registry that already has a champion keeps it.
"""

from __future__ import annotations

import pandas as pd

import features
from models import TrainConfig, train
from models.registry import alias_versions, log_and_register, promote
from synth.marketplace import generate_marketplace

__all__ = ["FIRST_MODEL_CONFIG", "ensure_champion"]

#: A quick, deterministic fit: one candidate, three folds, one thread.
FIRST_MODEL_CONFIG = TrainConfig(max_candidates=1, cv_folds=3, max_rounds=300,
                                 early_stopping_rounds=20, learning_rate=0.1, n_jobs=1)


def ensure_champion(tracking_uri: str, model_name: str, *, artifact_location: str | None,
                    as_of: pd.Timestamp, sellers: int, history_months: int, seed: int
                    ) -> tuple[str, bool]:
    """The champion's version, training and promoting a first model when there is none.

    Parameters
    ----------
    tracking_uri, model_name, artifact_location : the MLflow store.
    as_of : the simulation's start: the training marketplace's records end there.
    sellers, history_months : size of the training marketplace.
    seed : its seed (the simulation uses another stream).

    Returns
    -------
    tuple
        The champion's version and whether it was trained in this call.
    """
    try:
        aliases = alias_versions(tracking_uri, model_name)
    except LookupError:
        aliases = {}
    if "champion" in aliases:
        return aliases["champion"], False
    market = generate_marketplace(sellers, history_months, seed=seed, as_of=as_of)
    table = features.build_features(market.orders, market.sellers, market.as_of)
    approved = market.training_labels()  # the declined sellers' outcomes stay unknown
    table = table.loc[table.index.isin(approved.index)]
    label = approved.reindex(table.index).to_numpy(dtype=int)
    model = train(table, label, config=FIRST_MODEL_CONFIG)
    logged = log_and_register(
        model, table, label, tracking_uri=tracking_uri, model_name=model_name,
        artifact_location=artifact_location,
        data_description=f"sme-credit simulate: first champion, synthetic marketplace of "
        f"{sellers} sellers ({history_months} months, seed {seed}) as of {as_of.isoformat()},"
        f" its {len(table)} approved sellers labelled by the generator's truth")
    promote(tracking_uri, model_name, version=logged.version, force=True,
            reason="first champion of a simulated book (no champion to compare with)",
            actor="sme-credit simulate")
    return logged.version, True
