"""The records the marketplace sends and what the service keeps of them.

* :mod:`records.ingest`: checking and storing sellers and orders (HTTP batches, CSV and
  Parquet files), all or nothing per row;
* :mod:`records.snapshots`: each seller's point-in-time feature snapshot, built with the
  batch builder (:mod:`features`) from the stored records and refreshed when they change;
* :mod:`records.history`: a seller's monthly trade history for the officer's charts;
* :mod:`records.tables`: the ``seller``, ``seller_order`` and ``feature_snapshot`` tables.

Nothing here knows HTTP: refusals are :class:`records.errors.RecordsError` subclasses,
which ``api/errors.py`` maps to statuses.
"""
