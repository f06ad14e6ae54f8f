"""`aitrader news import` and `aitrader sentiment` against a running sentiment engine, as a person runs them."""

from __future__ import annotations

import json
from pathlib import Path

from aitrader.devstack.ports import free_port
from tests.factories import make_local_stack
from tests.integration.marketdata.conftest import run_service


def test_news_files_are_imported_line_by_line_and_sentiment_is_read_back(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "SENTIMENT_ENGINE_FINBERT_URL": f"http://127.0.0.1:{free_port()}"}
    lines = [
        json.dumps({"headline": "Wipro wins a record deal", "published_at": "2025-11-21T05:00:00+00:00"}),
        "{not json",
        json.dumps({"headline": "Wipro wins a record deal", "published_at": "2025-11-21T05:00:00+00:00"}),
        json.dumps({"headline": "x", "symbols": ["NOPE"]}),
        "",
    ]
    news = tmp_path / "news.jsonl"
    news.write_text("\n".join(lines) + "\n")
    stack = make_local_stack(tmp_path)
    with run_service("sentiment_engine", env, tmp_path / "sentiment.log") as service:
        sample = stack.aitrader("news", "import", "--sample", "--url", service.url, "--json")
        again = stack.aitrader("news", "import", "--sample", "--url", service.url)
        mixed = stack.aitrader("news", "import", str(news), "--url", service.url, "--batch", "2", "--json")
        day = ["--window", "1d", "--at", "2025-11-21T10:00:00+00:00", "--url", service.url]
        infy = stack.aitrader("sentiment", "INFY", *day, "--json")
        table = stack.aitrader("sentiment", "INFY", *day)
        unknown = stack.aitrader("sentiment", "NOPE", "--url", service.url)
        neither = stack.aitrader("news", "import", "--url", service.url)

    assert sample.returncode == 0, sample.stderr
    assert json.loads(sample.stdout) | {"refusals": []} == {
        "lines": 24, "stored": 24, "duplicates": 0, "refused": 0, "refusals": [],
    }  # fmt: skip
    assert "24 items, 0 stored, 24 duplicates, 0 refused" in again.stdout
    assert mixed.returncode == 1
    report = json.loads(mixed.stdout)
    assert (report["lines"], report["stored"], report["duplicates"], report["refused"]) == (4, 1, 1, 2)
    assert [r["line"] for r in report["refusals"]] == [2, 4]
    assert (
        "not JSON" in report["refusals"][0]["reason"] and "unknown symbols ['NOPE']" in report["refusals"][1]["reason"]
    )
    assert infy.returncode == 0, infy.stderr
    answer = json.loads(infy.stdout)
    assert answer["items"] == 3 and answer["scorer"] == "lexicon" and -1 <= answer["sentiment_score"] <= 1
    assert table.stdout.startswith("INFY: ") and "from 3 items over 24 h" in table.stdout
    assert unknown.returncode == 1 and "unknown symbol 'NOPE'" in unknown.stderr
    assert neither.returncode == 2 and "--sample" in neither.stderr
