"""The order state machine: only the table's moves, final states final, every live state can end."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aitrader.contracts.messages import OrderStatus as S
from aitrader.errors import InvalidTransition
from execution.states import FINAL, TRANSITIONS, WORKING, can_move, transition

statuses = st.sampled_from(list(S))


def test_the_table_names_every_status_and_only_final_ones_lead_nowhere():
    assert set(TRANSITIONS) == set(S)
    assert {status for status, targets in TRANSITIONS.items() if not targets} == FINAL


@given(statuses, statuses)
def test_a_move_passes_exactly_when_the_table_has_it(current: S, target: S):
    if target in TRANSITIONS[current]:
        assert transition(current, target) is target
    else:
        with pytest.raises(InvalidTransition, match=f"{current} -> {target}"):
            transition(current, target)


@given(st.lists(statuses, max_size=30))
def test_any_walk_through_the_table_never_leaves_a_final_state(targets: list[S]):
    state = S.NEW
    for target in targets:
        if can_move(state, target):
            was_final = state in FINAL
            state = transition(state, target)
            assert not was_final


def test_every_live_state_can_reach_a_final_one():
    for start in S:
        seen, frontier = {start}, [start]
        while frontier:
            for target in TRANSITIONS[frontier.pop()]:
                if target not in seen:
                    seen.add(target)
                    frontier.append(target)
        assert seen & FINAL or start in FINAL, start


def test_a_refused_cancel_returns_to_the_working_state_the_order_left():
    assert transition(S.PENDING_CANCEL, S.PARTIALLY_FILLED, working=S.PARTIALLY_FILLED) is S.PARTIALLY_FILLED
    with pytest.raises(InvalidTransition, match="it was ACCEPTED"):
        transition(S.PENDING_CANCEL, S.PARTIALLY_FILLED, working=S.ACCEPTED)
    assert {S.ACCEPTED, S.PARTIALLY_FILLED} == WORKING


def test_the_races_brokers_produce_are_allowed():
    assert can_move(S.SUBMITTED, S.FILLED)  # a fill before the acknowledgement
    assert can_move(S.PENDING_CANCEL, S.FILLED)  # a fill that beat the cancel
    assert can_move(S.PARTIALLY_FILLED, S.PARTIALLY_FILLED)  # another part
    assert not can_move(S.FILLED, S.CANCELED) and not can_move(S.NEW, S.FILLED)
