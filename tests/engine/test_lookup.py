"""Prompt lookup's guesses and how many of them a step drafts (no model: engine/lookup.py alone)."""

from opencoder_local.engine.lookup import BatchCosts, Candidate, DraftPolicy, NgramIndex


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


def costs_of(extra: float) -> BatchCosts:
    """Costs timed as one-token decodes of 10 ms and batches of `extra` more per token."""
    costs = BatchCosts()
    for _ in range(5):
        for size in (1, 2, 5):
            costs.add(size, 0.010 * (1 + (size - 1) * extra))
    return costs


def test_batch_costs_are_medians_and_sizes_not_timed_are_estimated():
    costs = costs_of(0.5)
    costs.add(5, 10.0)  # one decode held up by another process
    assert costs(5) == 3.0
    assert costs(1) == 1.0 and costs(9) == 5.0
    assert BatchCosts()(3) == 1 + 2 * BatchCosts.PRIOR  # nothing timed yet


def test_the_first_timing_of_a_size_is_dropped_and_one_slow_batch_cannot_stop_drafting_for_good():
    costs = BatchCosts()
    for seconds in (0.050, 0.010, 0.010):
        costs.add(1, seconds)
    costs.add(2, 0.100)  # a new batch shape: llama.cpp plans its graph
    assert costs(2) == 1 + BatchCosts.PRIOR
    costs.add(2, 0.040)  # held up by another process
    policy = DraftPolicy(costs)
    following = Candidate(list(range(16)), fresh=False)
    assert policy.length(following) == 1  # not settled: it drafts one token to time a 2-token batch
    for _ in range(BatchCosts.SETTLED):
        costs.add(2, 0.014)
    assert costs.settled(2) and abs(costs(2) - 1.4) < 1e-9
    assert policy.length(following) > 1


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
