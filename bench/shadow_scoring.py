"""Benchmark: what shadow scoring adds to a credit decision.

    .venv/bin/python bench/shadow_scoring.py                 # 600 sellers, 3 rounds
    .venv/bin/python bench/shadow_scoring.py --sellers 300 --rounds 5

A synthetic marketplace (``--sellers`` x 12 months, seeded), a champion trained on it and
a challenger trained on two thirds of it (one candidate, three folds). Each round decides
every seller once without and once with the challenger (``decisions.service.
make_decision`` on a fresh SQLite file each, taking turns so load from elsewhere on the
machine hits both alike) and prints the CPU time per decision (``time.process_time``:
scoring, explaining, deciding and the statements, not the wait for the disk) and the wall
time p50. The difference is the shadow's cost: one more score of the same features and one
more insert in the decision's transaction.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import features  # noqa: E402
from decisions import service  # noqa: E402
from lending.persistence import SqlUnitOfWork  # noqa: E402
from lending.policy import load_policy  # noqa: E402
from models import TrainConfig, train  # noqa: E402
from records.snapshots import FeatureSnapshot  # noqa: E402
from scoring import Scorer  # noqa: E402
from store import make_engine, upgrade_database  # noqa: E402
from synth.marketplace import generate_marketplace  # noqa: E402

FAST = TrainConfig(max_candidates=1, cv_folds=3, max_rounds=300, early_stopping_rounds=20,
                   learning_rate=0.1, n_jobs=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sellers", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    market = generate_marketplace(args.sellers, 12, seed=11)
    table = features.build_features(market.orders, market.sellers, market.as_of)
    label = (market.truth.set_index("seller_id").reindex(table.index)["defaulted_12m"]
             .astype(int).to_numpy())
    champion = Scorer(train(table, label, config=FAST), model_name="bench-pd",
                      model_version="1")
    rows = np.arange(len(table)) % 3 != 0
    challenger = Scorer(train(table.iloc[rows], label[rows], config=FAST),
                        model_name="bench-pd", model_version="2")
    policy = load_policy()
    as_of = pd.Timestamp(market.as_of).to_pydatetime()
    now = datetime.now(UTC)
    cpu: dict[str, list[float]] = {"without": [], "with": []}
    wall: dict[str, list[float]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            for name, shadow in (("without", None), ("with", challenger)):
                engine = make_engine(f"sqlite:///{folder}/{name}-{round_}.db")
                upgrade_database(engine)
                for n, (seller_id, row) in enumerate(table.iterrows()):
                    snapshot = FeatureSnapshot(f"{seller_id}-{n}", str(row["seller_kind"]),
                                               as_of, row.to_dict())
                    started, started_cpu = time.perf_counter(), time.process_time()
                    service.make_decision(SqlUnitOfWork(engine), snapshot=snapshot,
                                          scorer=champion, policy=policy,
                                          idempotency_key=f"k-{n}", actor="key:bench",
                                          now=now, currency=policy.currency,
                                          challenger=shadow)
                    cpu[name].append(time.process_time() - started_cpu)
                    wall[name].append(time.perf_counter() - started)
                engine.dispose()
    for name in ("without", "with"):
        print(f"{name:>7} challenger: {len(cpu[name]):,} decisions, CPU "
              f"{statistics.mean(cpu[name]) * 1000:.2f} ms per decision (mean), wall p50 "
              f"{statistics.median(wall[name]) * 1000:.2f} ms")
    extra = statistics.mean(cpu["with"]) - statistics.mean(cpu["without"])
    print(f"shadow scoring adds {extra * 1000:.2f} ms of CPU per decision")


if __name__ == "__main__":
    main()
