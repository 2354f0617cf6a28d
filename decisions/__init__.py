"""The credit case: an automated decision and what officers do with it.

* :mod:`decisions.case`: the case as a plain domain object (referred -> approved or
  declined, limit changes within the policy, versions, who may do what), testable
  without a database, a model or HTTP;
* :mod:`decisions.errors`: its named refusals (:class:`~decisions.errors.DecisionError`),
  which know nothing of HTTP (:mod:`api.errors` maps them);
* :mod:`decisions.service`: deciding (score, explain, apply the policy, store), listing,
  reproducing and the officer actions, each in one transaction;
* :mod:`decisions.tables`: the decision's model family (shared fields) and the
  ``credit_decision`` and ``officer_action`` tables.
"""
