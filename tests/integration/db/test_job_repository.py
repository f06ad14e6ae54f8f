from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from aitrader.clock import TestClock
from aitrader.db.models import Job, JobStatus
from aitrader.db.repositories import JobRepository, datetime_from_ns
from aitrader.db.session import make_session_factory, session_scope
from aitrader.errors import InvalidTransition, NotFoundError, ValidationError

START_NS = 1_736_135_100_123_456_789


@pytest.fixture
def clock() -> TestClock:
    return TestClock(START_NS)


@pytest.fixture
def jobs(session: Session, clock: TestClock) -> JobRepository:
    return JobRepository(session, clock=clock)


def test_created_job_is_queued_with_its_payload(jobs: JobRepository) -> None:
    job = jobs.create("suggestion", {"symbol": "INFY", "horizon": "1d"})

    assert isinstance(job.id, uuid.UUID)
    assert job.status is JobStatus.QUEUED
    assert job.payload == {"symbol": "INFY", "horizon": "1d"}
    assert job.started_at is None
    assert job.finished_at is None
    assert job.created_at is not None


def test_job_runs_and_completes_with_its_result_and_timestamps(
    engine: Engine, jobs: JobRepository, session: Session, clock: TestClock
) -> None:
    job = jobs.create("backtest", {"config": "default"})

    jobs.mark_running(job.id)
    clock.advance(2_500_000_000)
    jobs.mark_completed(job.id, {"pnl": "1250.50", "trades": 12})
    session.commit()

    with make_session_factory(engine)() as other:
        stored = JobRepository(other).get(job.id)
        assert stored.status is JobStatus.COMPLETED
        assert stored.result == {"pnl": "1250.50", "trades": 12}
        assert stored.error is None
        assert stored.started_at == datetime_from_ns(START_NS)
        assert stored.finished_at == datetime_from_ns(START_NS + 2_500_000_000)


def test_running_job_fails_with_its_error(jobs: JobRepository, clock: TestClock) -> None:
    job = jobs.create("training", {"model": "nbeats"})
    jobs.mark_running(job.id)
    clock.advance(1_000)

    failed = jobs.mark_failed(job.id, "ValueError: not enough bars, was 12")

    assert failed.status is JobStatus.FAILED
    assert failed.error == "ValueError: not enough bars, was 12"
    assert failed.result is None
    assert failed.finished_at == datetime_from_ns(START_NS + 1_000)


def test_queued_job_can_be_canceled(jobs: JobRepository) -> None:
    job = jobs.create("suggestion", {})

    canceled = jobs.mark_canceled(job.id)

    assert canceled.status is JobStatus.CANCELED
    assert canceled.finished_at is not None


def test_completed_job_cannot_start_running_again(jobs: JobRepository) -> None:
    job = jobs.create("suggestion", {})
    jobs.mark_running(job.id)
    jobs.mark_completed(job.id, {"ok": True})

    with pytest.raises(InvalidTransition, match=f"^job {job.id} cannot go from completed to running$"):
        jobs.mark_running(job.id)

    assert jobs.get(job.id).status is JobStatus.COMPLETED


def test_queued_job_cannot_complete_without_running(jobs: JobRepository) -> None:
    job = jobs.create("suggestion", {})

    with pytest.raises(InvalidTransition, match="cannot go from queued to completed"):
        jobs.mark_completed(job.id, {})


def test_get_unknown_job_raises_not_found(jobs: JobRepository) -> None:
    unknown = uuid.uuid4()

    with pytest.raises(NotFoundError, match=f"job {unknown} not found"):
        jobs.get(unknown)


def test_get_with_malformed_id_raises_not_found(jobs: JobRepository) -> None:
    with pytest.raises(NotFoundError, match="not a UUID"):
        jobs.get("42")


def test_transition_of_unknown_job_raises_not_found(jobs: JobRepository) -> None:
    with pytest.raises(NotFoundError):
        jobs.mark_running(uuid.uuid4())


def test_list_filters_by_status_and_kind_and_counts_every_match(jobs: JobRepository) -> None:
    suggestions = [jobs.create("suggestion", {"n": n}) for n in range(3)]
    backtests = [jobs.create("backtest", {"n": n}) for n in range(2)]
    jobs.mark_running(suggestions[0].id)
    jobs.mark_running(backtests[0].id)

    all_items, all_count = jobs.list()
    suggestion_items, suggestion_count = jobs.list(kind="suggestion")
    running_items, running_count = jobs.list(status=JobStatus.RUNNING)
    both_items, both_count = jobs.list(status=JobStatus.RUNNING, kind="backtest")

    assert all_count == 5
    assert {job.id for job in all_items} == {job.id for job in suggestions + backtests}
    assert suggestion_count == 3
    assert {job.id for job in suggestion_items} == {job.id for job in suggestions}
    assert running_count == 2
    assert {job.id for job in running_items} == {suggestions[0].id, backtests[0].id}
    assert both_count == 1
    assert [job.id for job in both_items] == [backtests[0].id]


def test_list_pages_through_jobs_while_count_covers_all(jobs: JobRepository) -> None:
    created = {jobs.create("suggestion", {"n": n}).id for n in range(5)}

    first, first_count = jobs.list(limit=2)
    second, _ = jobs.list(limit=2, offset=2)
    third, _ = jobs.list(limit=2, offset=4)

    assert first_count == 5
    assert [len(first), len(second), len(third)] == [2, 2, 1]
    assert {job.id for job in [*first, *second, *third]} == created


def test_list_rejects_a_page_size_out_of_range(jobs: JobRepository) -> None:
    with pytest.raises(ValidationError, match="limit must be between 1 and 1000, was 0"):
        jobs.list(limit=0)


def test_create_rejects_an_empty_kind(jobs: JobRepository) -> None:
    with pytest.raises(ValidationError, match="job kind must be 1 to 32 characters, was ''"):
        jobs.create("", {})


def test_session_scope_commits_a_unit_of_work_that_succeeds(engine: Engine) -> None:
    factory = make_session_factory(engine)

    with session_scope(factory) as session:
        job_id = JobRepository(session).create("suggestion", {}).id

    with session_scope(factory) as session:
        assert JobRepository(session).get(job_id).status is JobStatus.QUEUED


def test_session_scope_rolls_back_a_unit_of_work_that_fails(engine: Engine) -> None:
    factory = make_session_factory(engine)

    with pytest.raises(InvalidTransition), session_scope(factory) as session:
        repository = JobRepository(session)
        job_id = repository.create("suggestion", {}).id
        repository.mark_completed(job_id, {})

    with session_scope(factory) as session:
        assert session.get(Job, job_id) is None
