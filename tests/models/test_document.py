"""``sme-credit models document``: the model document a validator reads, from a real store."""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy.stats import norm

from cli import CliError
from models import CreditModel
from models.document import SECTIONS
from models.evaluation import delong_covariance
from models.gates import GateConfig
from models.registry import load_credit_model, load_holdout, log_and_register, promote
from settings import Settings
from tests.commands import run_command as run
from tests.mlflow_store import empty_store
from tests.models.conftest import CreditTable

NAME = "document-pd"
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


@dataclass(frozen=True)
class Store:
    uri: str
    settings: Settings


@pytest.fixture(scope="module")
def store(trained: CreditModel, credit_table: CreditTable,
          tmp_path_factory: pytest.TempPathFactory) -> Store:
    """v1 promoted through the gates (first model), without a fairness review; v2 only
    registered, with the review the registry records; descriptions carry hostile text."""
    folder = tmp_path_factory.mktemp("document-store")
    uri = empty_store(folder / "mlflow.db")
    features = credit_table.features.drop(columns=["applied_at"])
    for _ in range(2):
        logged = log_and_register(trained, features, credit_table.label, tracking_uri=uri,
                                  model_name=NAME, segment="region",
                                  artifact_location=(folder / "artifacts").as_uri())
        if logged.version == "1":
            promote(uri, NAME, gates=GateConfig(max_calibration_error=0.1),
                    actor="validator-<b>", reason="first model")
    client = MlflowClient(uri, registry_uri=uri)
    client.update_registered_model(NAME, description=HOSTILE)
    client.update_model_version(NAME, "1", description=HOSTILE)
    # v1 as a version logged before fairness reviews were recorded
    artifacts = client.get_run(str(client.get_model_version(NAME, "1").run_id)).info.artifact_uri
    shutil.rmtree(Path(artifacts.removeprefix("file://")) / "fairness")
    return Store(uri, Settings(data_dir=folder / "data", mlflow_tracking_uri=uri,
                               model_name=NAME))




@pytest.fixture(scope="module")
def document_v1(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("document-v1")
    assert run(["models", "document", "1", "--out", str(out)], store.settings) == 0
    return out / f"model-{NAME}-v1.html"


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_the_document_has_every_section_and_only_local_charts(document_v1: Path) -> None:
    html = document_v1.read_text(encoding="utf-8")
    headings = re.findall(r"<h2>(.*?)</h2>", html)
    assert headings == list(SECTIONS)
    images = re.findall(r'<img src="([^"]+)"', html)
    assert {"figures/roc.png", "figures/ks.png", "figures/calibration.png",
            "figures/by_grade.png", "figures/importance.png"} <= set(images)
    for image in images:
        png = document_v1.parent / image
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<script" not in html.lower()
    assert "http://" not in html and "https://" not in html
    # every section names where its figures come from
    for section in re.findall(r"<section.*?</section>", html, flags=re.S):
        assert 'class="source"' in section


def test_performance_figures_are_the_registrys_with_delong_intervals(
        document_v1: Path, store: Store) -> None:
    text = _text(document_v1.read_text(encoding="utf-8"))
    client = MlflowClient(store.uri)
    version = client.get_model_version(NAME, "1")
    metrics = client.get_run(str(version.run_id)).data.metrics
    logged_row = re.search(r"auc (\S+) (\S+) ks", text)
    assert logged_row is not None
    assert logged_row.groups() == (f"{metrics['holdout_auc']:.4f}",) * 2
    model, _ = load_credit_model(store.uri, NAME, version="1")
    X, y = load_holdout(store.uri, NAME, "1")
    raw = model.decision_function(X)
    aucs, cov = delong_covariance(y, raw)
    half = norm.ppf(0.975) * math.sqrt(cov[0, 0])
    assert (f"AUC, raw score (log-odds) {aucs[0]:.4f} {aucs[0] - half:.4f} "
            f"{aucs[0] + half:.4f} DeLong") in text
    assert f"{len(y):,} rows, {int(y.sum()):,} defaults" in text
    assert str(version.run_id) in text
    # calibration by grade: the hold-out's grade counts add up to the sample
    grade_rows = re.findall(r"<tr><td>([A-E])</td><td>([\d,]+)</td>",
                            document_v1.read_text(encoding="utf-8"))
    assert sum(int(n.replace(",", "")) for _, n in grade_rows[:5]) == len(y)


def test_hostile_text_from_the_registry_is_escaped(document_v1: Path) -> None:
    html = document_v1.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x " \
           "onerror=alert(1)&gt;" in html
    assert "onerror=alert(1)>" not in html
    assert "validator-&lt;b&gt;" in html and "validator-<b>" not in html


def test_a_promoted_version_shows_its_verdict_and_gates(document_v1: Path) -> None:
    html = document_v1.read_text(encoding="utf-8")
    record = html.split('<section id="promotion-record">', 1)[1]
    text = _text(record)
    assert "verdict promoted" in text
    assert "first model" in text
    for gate in ("serving features", "calibration in the large", "calibration by grade",
                 "decile calibration error", "score PSI"):
        assert gate in text
    assert re.search(r"promotion/promotion-\d{8}T\d{6}Z\.json|promotion/promotion-[\d-]+T"
                     r"\d{6}Z\.json", text)


def test_fairness_is_rendered_when_recorded_and_said_missing_when_not(
        document_v1: Path, store: Store, tmp_path: Path) -> None:
    assert "not recorded for this version" in _text(document_v1.read_text(encoding="utf-8"))
    assert run(["models", "document", "v2", "--out", str(tmp_path / "doc")],
               store.settings) == 0
    html = (tmp_path / "doc" / f"model-{NAME}-v2.html").read_text(encoding="utf-8")
    client = MlflowClient(store.uri)
    run_id = str(client.get_model_version(NAME, "2").run_id)
    recorded = json.loads(Path(client.download_artifacts(
        run_id, "fairness/fairness.json", str(tmp_path))).read_text(encoding="utf-8"))
    fairness = _text(html.split('<section id="fairness">', 1)[1].split("</section>")[0])
    assert "not recorded" not in fairness
    assert recorded["segments"]
    for segment in recorded["segments"]:
        air = "n/a" if segment["air"] is None else f"{segment['air']:.4f}"
        assert (f"{segment['dimension']} {segment['segment']} {segment['n']} "
                f"{segment['approval_rate']:.4f} {air}") in fairness
    assert f"Source: run {run_id} , artifact fairness/fairness.json" in fairness
    assert "not been through the promotion gates" in _text(html)


def test_unknown_version_names_it_and_lists_the_versions(store: Store,
                                                         tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r"no version 7; versions: 2, 1"):
        run(["models", "document", "7", "--out", str(tmp_path)], store.settings)
    assert not list(tmp_path.iterdir())


def test_an_out_path_that_is_a_file_is_refused(store: Store, tmp_path: Path) -> None:
    taken = tmp_path / "report.html"
    taken.write_text("keep me", encoding="utf-8")
    with pytest.raises(CliError, match="is a file"):
        run(["models", "document", "1", "--out", str(taken)], store.settings)
    assert taken.read_text(encoding="utf-8") == "keep me"


def test_the_listing_still_works_beside_the_document_command(
        store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models"], store.settings) == 0
    assert "champion" in capsys.readouterr().out


def test_latest_applicants_get_the_promotion_gates_score_psi_and_feature_psi(
        store: Store, credit_table: CreditTable, tmp_path: Path) -> None:
    from models.document import DocumentInputs, write_model_document
    from models.gates import RecentApplicants
    from scoring.monitor import stability_report
    from scoring.scorer import Scorer

    model, _ = load_credit_model(store.uri, NAME, version="1")
    # a later population: more debt, more late payments
    applicants = credit_table.features.iloc[:600].assign(
        debt_ratio=lambda f: f["debt_ratio"] * 1.8, late_payments=lambda f: f["late_payments"] + 2)

    def stability(model: CreditModel, frame: pd.DataFrame, sample: str) -> dict[str, Any]:
        scorer = Scorer(model, model_name=NAME, model_version="1")
        return stability_report(scorer, frame).to_dict()

    path = write_model_document(store.uri, NAME, "1", tmp_path, DocumentInputs(
        stability=stability, recent=RecentApplicants(applicants, "the test's decisions")))
    section = _text(path.read_text(encoding="utf-8").split('<section id="stability">', 1)[1]
                    .split("</section>")[0]).split("Latest applicants", 1)[1]
    gate_psi = model.score_reference_.psi(model.decision_function(applicants))
    assert gate_psi > 0.1
    assert "600 latest applicants" in section and "the test's decisions" in section
    assert re.search(rf"score score {gate_psi:.4f} (shift|major shift)", section)
    assert re.search(r"late_payments numeric \S+ major shift", section)
