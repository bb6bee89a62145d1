"""Prompt lookup's guesses and how many of them a step drafts (no model: engine/lookup.py alone)."""

import time

import pytest

from opencoder_local.engine.lookup import DEFAULT_COSTS, Candidate, CostTable, DraftPolicy, NgramIndex


def test_proposes_what_followed_the_last_tokens_before():
    index = NgramIndex([1, 2, 3, 4, 5, 6, 9, 1, 2, 3])
    candidate = index.candidate(3)
    assert candidate == Candidate([4, 5, 6], fresh=True)


def test_proposes_nothing_for_tokens_never_seen_together():
    assert NgramIndex([1, 2, 3, 4, 5, 6]).candidate(4) is None
    assert NgramIndex([1, 2]).candidate(4) is None  # shorter than an n-gram
    assert NgramIndex([1, 2, 3, 4, 1, 2, 3]).candidate(0) is None


def test_the_latest_occurrence_wins_and_the_proposal_stops_at_the_end():
    index = NgramIndex([1, 2, 3, 7, 8, 1, 2, 3, 4, 1, 2, 3])
    assert index.candidate(5).tokens == [4, 1, 2, 3]


def test_a_source_being_copied_is_followed_past_a_phrase_repeated_elsewhere():
    file = [10, 11, 12, 13, 14, 15, 16, 17]
    elsewhere = [5, 11, 12, 13, 77]  # the same three tokens, then something else
    index = NgramIndex(file + elsewhere + [10, 11, 12])
    assert index.candidate(3) == Candidate([13, 14, 15], fresh=True)
    index.append(13)  # the answer copies the file: "11 12 13" now last occurred in `elsewhere`
    assert index.candidate(3) == Candidate([14, 15, 16], fresh=False)


def test_a_token_that_leaves_the_source_ends_the_following():
    index = NgramIndex([1, 2, 3, 4, 5, 6, 1, 2, 3])
    assert index.candidate(3).tokens == [4, 5, 6]
    index.append(4)
    assert not index.candidate(3).fresh
    index.append(9)  # not 5
    assert index.candidate(3) is None  # 3 4 9 never occurred: nothing to follow, nothing to look up


def costs_of(extra: float) -> CostTable:
    """Batches that cost `extra` one-token decodes more per token."""
    return CostTable(((2, 1 + extra), (5, 1 + 4 * extra)))


def test_costs_are_linear_between_the_sizes_measured_and_beyond_the_last():
    table = CostTable(((2, 1.5), (4, 2.0), (8, 4.0)))
    assert [table(k) for k in (1, 2, 3, 4, 6, 8, 10)] == [1.0, 1.5, 1.75, 2.0, 3.0, 4.0, 5.0]
    assert DEFAULT_COSTS(2) == 1.47 and DEFAULT_COSTS(17) == 6.77


@pytest.mark.parametrize("points", [(), ((1, 1.0),), ((4, 2.0), (2, 1.5)), ((2, 1.5), (2, 1.6)),
                                    ((2, float("nan")),), ((2, -1.0),), ((2, "1.5"),)])
def test_a_table_that_is_not_one_is_refused(points):
    with pytest.raises(ValueError):
        CostTable(points)


def replay(policy: DraftPolicy, prompt: list[int], answer: list[int]) -> list[int]:
    """The draft lengths a turn picks when the model's tokens are `answer` (as LookupSteps steps)."""
    index, lengths, at = NgramIndex(prompt), [], 0
    while at < len(answer) - 1:
        index.append(answer[at])
        at += 1
        candidate = index.candidate(min(policy.max_draft, len(answer) - at - 1))
        length = policy.length(candidate) if candidate else 0
        lengths.append(length)
        draft = candidate.tokens[:length] if candidate else []
        produced = []
        for guess in draft:
            if guess != answer[at + len(produced)]:
                break
            produced.append(guess)
        produced.append(answer[at + len(produced)])
        if candidate is not None:
            policy.score(candidate, length, produced)
        index.extend(produced[:-1])
        at += len(produced) - 1
    return lengths


def test_what_is_drafted_follows_from_the_tokens_and_the_table_alone(monkeypatch):
    file = [(7 * i) % 50 for i in range(300)]
    prompt = file + [60, 61]
    answer = file[:120] + [70, 71, 72] + file[130:250] + [99]
    first = replay(DraftPolicy(DEFAULT_COSTS), prompt, answer)
    assert sum(first) > 100  # the copied stretches are drafted

    def no_clock():
        raise AssertionError("drafting read the clock")

    monkeypatch.setattr(time, "perf_counter", no_clock)
    monkeypatch.setattr(time, "monotonic", no_clock)
    monkeypatch.setattr(time, "time", no_clock)
    assert all(replay(DraftPolicy(DEFAULT_COSTS), prompt, answer) == first for _ in range(3))
    assert replay(DraftPolicy(CostTable(DEFAULT_COSTS.points)), prompt, answer) == first  # an equal table
    assert replay(DraftPolicy(costs_of(0.05)), prompt, answer) != first  # another machine's, another plan


def test_a_new_match_is_not_drafted_until_matches_have_proved_right():
    policy = DraftPolicy(costs_of(0.5))
    fresh = Candidate([7, 8, 9, 10], fresh=True)
    assert policy.length(fresh) == 0
    for _ in range(20):  # one-token steps whose model token was the candidate's first: learnt for free
        policy.score(fresh, 0, [7])
    assert policy.length(fresh) >= 1


def test_prose_whose_matches_miss_stops_drafting():
    policy = DraftPolicy(costs_of(0.3))
    following = Candidate(list(range(16)), fresh=False)
    for _ in range(30):
        policy.score(following, 16, list(range(16)) + [99])  # all accepted
    assert policy.length(following) == 16
    for _ in range(30):
        policy.score(following, 4, [55])  # the first guess wrong every time
    assert policy.length(following) == 0


def test_cheaper_batches_draft_more():
    candidate = Candidate(list(range(16)), fresh=False)
    cheap, dear = DraftPolicy(costs_of(0.05)), DraftPolicy(costs_of(0.4))
    assert cheap.length(candidate) > dear.length(candidate) > 0
    assert DraftPolicy(costs_of(1.0)).length(candidate) == 0  # a batch no faster than its tokens one by one


def test_a_draft_never_exceeds_the_candidate_or_the_cap():
    policy = DraftPolicy(costs_of(0.01))
    for _ in range(40):
        policy.score(Candidate(list(range(16)), fresh=False), 16, list(range(17)))
    assert policy.length(Candidate([1, 2], fresh=False)) == 2
    assert policy.length(Candidate(list(range(40)), fresh=False)) == policy.max_draft
