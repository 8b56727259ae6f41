"""Decoding algorithms against small deterministic numpy language models.

A toy LM is a transition table: logits of the next token = TABLE[previous token] + a
per-row bias held in the state (the row's "context"). That is a real step function under
the decode contract, so every algorithm runs exactly as it does on the ONNX graphs.
"""

import dataclasses

import numpy as np
import pytest

from model.serve.beam import Admission, admit_from, beam_search, join_rows, top_k_ids
from model.serve.decode import (
    SHARED,
    Decoding,
    TokenRules,
    block_repeated_ngrams,
    case_fold_table,
    constrain,
    log_softmax,
    mmi_scores,
    sample_or_greedy,
    sequence_logprobs,
    strip_tokens,
    take_rows,
)
from model.serve.generate import generate

PAD, BOS, EOS, UNK, BRK, SEP = range(6)
VOCAB = 12
RULES = TokenRules(bos=BOS, eos=EOS, brk=BRK, banned=(PAD, UNK, BOS, SEP))
PLAIN = {"repetition_penalty": 1.0, "no_repeat_ngram": 0, "min_len": 0, "max_len": 12}


def make_step(table):
    table = np.asarray(table, dtype=np.float32)

    def step(tokens, state):
        return table[tokens] + state["bias"], state

    return step


def random_table(seed):
    return np.random.default_rng(seed).normal(0, 2.0, size=(VOCAB, VOCAB)).astype(np.float32)


def biases(rows, seed=0, scale=1.0):
    return {"bias": np.random.default_rng(seed).normal(0, scale, (rows, VOCAB)).astype(np.float32)}


def chain_table(*edges, default=-4.0):
    """A table where each (prev, next, logit) edge dominates its row."""
    table = np.full((VOCAB, VOCAB), default, dtype=np.float32)
    for prev, nxt, logit in edges:
        table[prev, nxt] = logit
    return table


def cfg(**settings):
    return Decoding.from_dict({**PLAIN, **settings})


def total_logprob(step, state, seq):
    return float(sequence_logprobs(step, state, [seq], RULES)[0].sum())


def test_greedy_follows_the_argmax_path_and_never_emits_banned_tokens():
    # <pad> and <unk> are the most likely tokens everywhere; they must be skipped.
    table = chain_table((BOS, 6, 5.0), (6, 7, 5.0), (7, 8, 5.0), (8, EOS, 5.0))
    table[:, PAD] = 9.0
    table[:, UNK] = 8.0
    step = make_step(table)
    state = {"bias": np.zeros((1, VOCAB), np.float32)}
    assert generate(step, state, RULES, cfg(strategy="greedy"), [None]) == [[6, 7, 8]]


def test_beam_width_one_equals_greedy_and_topk_one_equals_greedy():
    step = make_step(random_table(1))
    state = biases(5, seed=2)
    greedy = generate(step, state, RULES, cfg(strategy="greedy"), [None] * 5)
    beam1 = generate(step, state, RULES, cfg(strategy="beam", beam_width=1), [None] * 5)
    top1 = generate(step, state, RULES, cfg(strategy="sample", top_k=1, temperature=1.5),
                    [3, 4, 5, 6, 7])
    assert beam1 == greedy
    assert top1 == greedy
    assert len({tuple(g) for g in greedy}) > 1  # the rows really differ


def test_beam_finds_a_higher_scoring_sequence_than_greedy():
    # <s> -> 6 looks best, but everything after 6 is spread thin; 7 -> 8 -> </s> is sure.
    table = chain_table((BOS, 6, 2.0), (BOS, 7, 1.6), (7, 8, 9.0), (8, EOS, 9.0))
    table[6, 6:] = 0.0
    table[6, EOS] = 0.0
    step = make_step(table)
    state = {"bias": np.zeros((1, VOCAB), np.float32)}
    greedy = generate(step, state, RULES, cfg(strategy="greedy"), [None])[0]
    beam = generate(step, state, RULES, cfg(strategy="beam", beam_width=3), [None])[0]
    assert greedy[0] == 6 and beam == [7, 8]
    assert total_logprob(step, state, beam) > total_logprob(step, state, greedy) + 1.0


def test_beam_returns_ranked_candidates_per_row():
    step = make_step(random_table(4))
    state = biases(3, seed=5)
    results = beam_search(step, state, RULES, cfg(strategy="beam", beam_width=4), keep=3)
    assert [len(r) for r in results] == [3, 3, 3]
    for row in results:
        scores = [score for _, score in row]
        assert scores == sorted(scores, reverse=True)


def counting(step):
    """`step` that also records how many rows each call ran."""
    rows = []

    def counted(tokens, state):
        rows.append(len(tokens))
        return step(tokens, state)

    return counted, rows


def test_done_beam_rows_leave_the_batch_and_every_result_stays_as_decoded_alone():
    step = make_step(random_table(11))
    state = biases(6, seed=12, scale=3.0)
    counted, rows = counting(step)
    together = beam_search(counted, state, RULES, cfg(strategy="beam", beam_width=3), keep=2)
    alone = [beam_search(step, take_rows(state, np.array([row])), RULES,
                         cfg(strategy="beam", beam_width=3), keep=2)[0] for row in range(6)]
    assert together == alone
    assert rows[0] == 18 and rows[-1] < 18  # rows done early stopped costing steps
    assert sorted(rows, reverse=True) == rows


def test_a_beam_search_starts_waiting_prompts_as_rows_free_up_and_decodes_each_as_alone():
    step = make_step(random_table(21))
    state = biases(9, seed=22, scale=3.0)
    settings = cfg(strategy="beam", beam_width=3, early_stopping=True, min_len=2,
                   no_repeat_ngram=2, repetition_penalty=1.3, no_copy_ngram=2)
    context = [np.random.default_rng(row).integers(6, VOCAB, 4) for row in range(9)]
    started = []

    def encode(prompts):
        started.append(list(prompts))
        return take_rows(state, np.array(prompts))

    counted, rows = counting(step)
    together = beam_search(counted, encode([0, 1]), RULES, settings, keep=2,
                           contexts=context[:2],
                           admission=Admission(admit_from(context, encode, 2), join_rows,
                                               rows=6))
    alone = [beam_search(step, take_rows(state, np.array([row])), RULES, settings, keep=2,
                         contexts=[context[row]])[0] for row in range(9)]
    assert together == alone
    assert sorted(sum(started, [])) == list(range(9)) and len(started) > 2
    assert max(rows) == 6 and rows.count(6) > len(rows) // 2

    # a server's search: results handed over as each is done, the first before the last
    # prompt is even taken, and more taken while the batch is empty only when waiting
    handed, waits = {}, []
    take = admit_from(context, encode, 2)

    def waiting_take(count, wait):
        waits.append((wait, len(handed)))
        return take(count, wait)

    assert beam_search(step, encode([0, 1]), RULES, settings, keep=2, contexts=context[:2],
                       admission=Admission(waiting_take, join_rows, rows=6,
                                           done=handed.__setitem__)) == []
    assert handed == dict(enumerate(alone))
    assert waits[-1] == (True, 9) and any(done for _, done in waits[:-1])
    with pytest.raises(ValueError, match="only a beam search"):
        generate(step, encode([0]), RULES, cfg(strategy="sample"), [1],
                 admission=Admission(take, join_rows, rows=6))


def test_join_rows_pads_each_entry_after_its_end():
    joined = join_rows({"past": np.ones((1, 2)), SHARED + "x": np.ones((1, 1))},
                       {"past": np.full((2, 3), 2.0), SHARED + "x": np.ones((1, 2))})
    np.testing.assert_array_equal(joined["past"], [[1, 1, 0], [2, 2, 2], [2, 2, 2]])
    np.testing.assert_array_equal(joined[SHARED + "x"], [[1, 0], [1, 1]])


# <s> -> 6 -> </s> leads when it ends after two steps (mean log-probability -0.26), but
# the sure chain <s> -> 7 -> 8 -> 9 -> 10 -> </s> ends with a better one (-0.18)
LATE_WINNER = chain_table((BOS, 6, 3.0), (BOS, 7, 2.6), (6, EOS, 9.0), (7, 8, 9.0),
                          (8, 9, 9.0), (9, 10, 9.0), (10, EOS, 9.0))


def test_early_stopping_ends_a_beam_row_when_its_best_beam_ends():
    state = {"bias": np.zeros((1, VOCAB), np.float32)}
    full, full_rows = counting(make_step(LATE_WINNER))
    early, early_rows = counting(make_step(LATE_WINNER))
    settings = {"strategy": "beam", "beam_width": 2}
    assert generate(full, state, RULES, cfg(**settings), [None]) == [[7, 8, 9, 10]]
    # the trade: two steps instead of five, and the shorter reply that led when it ended
    assert generate(early, state, RULES, cfg(early_stopping=True, **settings),
                    [None]) == [[6]]
    assert (len(early_rows), len(full_rows)) == (2, 5)
    with pytest.raises(ValueError, match="early_stopping"):
        Decoding.from_dict({"early_stopping": "yes"})


def test_sampling_is_reproducible_and_independent_of_batch_composition():
    step = make_step(random_table(7))
    settings = cfg(strategy="sample", temperature=1.2, top_p=0.95)
    state = biases(6, seed=8, scale=0.5)
    seeds = [11, 12, 13, 14, 15, 16]
    together = generate(step, state, RULES, settings, seeds)
    alone = [generate(step, {"bias": state["bias"][i:i + 1]}, RULES, settings, [seed])[0]
             for i, seed in enumerate(seeds)]
    assert together == alone
    assert generate(step, state, RULES, settings, seeds) == together
    shuffled = [5, 2, 0, 4, 1, 3]
    reordered = generate(step, {"bias": state["bias"][shuffled]}, RULES, settings,
                         [seeds[i] for i in shuffled])
    assert reordered == [together[i] for i in shuffled]
    # One context, many seeds: sampling really samples.
    same = {"bias": np.repeat(state["bias"][:1], 8, axis=0)}
    assert len({tuple(s) for s in generate(step, same, RULES, settings, range(8))}) > 2


def test_top_p_keeps_only_the_nucleus():
    # After <s>: token 6 has ~88% of the mass; with top_p=0.5 nothing else can be drawn.
    table = chain_table((BOS, 6, 4.0), (BOS, 7, 2.0), (6, EOS, 9.0), (7, EOS, 9.0), default=-9)
    step = make_step(table)
    state = {"bias": np.zeros((40, VOCAB), np.float32)}
    nucleus = generate(step, state, RULES, cfg(top_p=0.5, temperature=1.0), range(40))
    assert nucleus == [[6]] * 40
    wide = generate(step, state, RULES, cfg(top_p=1.0, temperature=1.0), range(40))
    assert [7] in wide


def test_repetition_penalty_and_no_repeat_ngram_prevent_repeats():
    # 6 loves itself; 7 is a close second; the cycle 6 -> 7 -> 6 is also strong.
    table = chain_table((BOS, 6, 5.0), (6, 6, 3.0), (6, 7, 2.0), (7, 6, 3.0), (7, 8, 1.0),
                        (8, EOS, 1.0))
    step = make_step(table)
    state = {"bias": np.zeros((1, VOCAB), np.float32)}
    loop = generate(step, state, RULES, cfg(strategy="greedy"), [None])[0]
    assert loop == [6] * 12
    penalised = generate(step, state, RULES, cfg(strategy="greedy", repetition_penalty=2.0),
                         [None])[0]
    assert penalised[:2] == [6, 7]
    no_unigram = generate(step, state, RULES, cfg(strategy="greedy", no_repeat_ngram=1),
                          [None])[0]
    assert len(no_unigram) == len(set(no_unigram)) and no_unigram[:3] == [6, 7, 8]
    no_bigram = generate(step, state, RULES, cfg(strategy="greedy", no_repeat_ngram=2),
                         [None])[0]
    bigrams = list(zip(no_bigram, no_bigram[1:], strict=False))
    assert len(bigrams) == len(set(bigrams)) and len(no_bigram) >= 3
    for beam in generate(step, state, RULES, cfg(strategy="beam", no_repeat_ngram=2), [None]):
        pairs = list(zip(beam, beam[1:], strict=False))
        assert len(pairs) == len(set(pairs))


def test_no_repeat_trigram_bans_exactly_the_completing_tokens():
    history = np.array([[6, 7, 8, 6, 7], [6, 7, 8, 6, 9], [6, 7, 6, 7, 6]], dtype=np.int32)
    logits = np.zeros((3, VOCAB), np.float32)
    block_repeated_ngrams(logits, history, 3)
    banned = [set(np.flatnonzero(row < 0).tolist()) for row in logits]
    # row 1: "6 7" was followed by 8; row 2: "6 9" is new; row 3: "7 6" was followed by 7
    assert banned == [{8}, set(), {7}]


def test_min_len_blocks_early_end_and_max_len_caps_length():
    table = chain_table((BOS, EOS, 6.0), (6, EOS, 6.0), (7, EOS, 6.0))
    table[:, 6] = 1.0
    step = make_step(table)
    state = {"bias": np.zeros((2, VOCAB), np.float32)}
    assert generate(step, state, RULES, cfg(strategy="greedy"), [None, None]) == [[], []]
    for strategy in ("greedy", "beam", "sample"):
        out = generate(step, state, RULES, cfg(strategy=strategy, min_len=3), [1, 2])
        assert all(len(seq) == 3 for seq in out), strategy
    looping = make_step(chain_table((BOS, 6, 5.0), (6, 6, 5.0)))
    assert generate(looping, state, RULES, cfg(strategy="greedy", max_len=5), [None, None]) \
        == [[6] * 5, [6] * 5]


def test_bubble_breaks_never_start_end_or_repeat():
    # <brk> is the favourite everywhere and </s> comes right after it.
    table = chain_table((BOS, BRK, 9.0), (BRK, BRK, 9.0), (BRK, EOS, 8.0), (6, BRK, 9.0))
    table[:, 6] = 2.0
    step = make_step(table)
    state = {"bias": np.zeros((1, VOCAB), np.float32)}
    for strategy in ("greedy", "beam"):
        out = generate(step, state, RULES, cfg(strategy=strategy, max_len=8), [None])[0]
        assert out and out[0] != BRK and out[-1] != BRK
        assert all(not (a == b == BRK) for a, b in zip(out, out[1:], strict=False))
    assert strip_tokens([BRK, 6, BRK, BRK, 7, BRK, EOS, 9], RULES) == [6, BRK, 7]


def test_rerank_picks_the_candidate_mmi_prefers():
    # Given the context, "6" is a bit more likely than "7", but "6" is what the model says
    # to anything (high p(T) with an empty context); MMI-antiLM must prefer "7".
    table = chain_table((BOS, 6, 2.0), (BOS, 7, 1.5), (6, EOS, 9.0), (7, EOS, 9.0), default=-9)
    step = make_step(table)
    context = np.zeros((1, VOCAB), np.float32)
    context[0, 7] = 0.3
    state, empty = {"bias": context}, {"bias": np.zeros((1, VOCAB), np.float32)}
    plain = cfg(strategy="beam", beam_width=2)
    assert generate(step, state, RULES, plain, [None]) == [[6]]
    mmi = cfg(strategy="beam", beam_width=2, rerank=2, mmi_lambda=1.0, length_bonus=0.0)
    assert generate(step, state, RULES, mmi, [None], lm_state=empty) == [[7]]
    no_antilm = cfg(strategy="beam", beam_width=2, rerank=2, mmi_lambda=0.0, length_bonus=0.0)
    assert generate(step, state, RULES, no_antilm, [None], lm_state=empty) == [[6]]
    sampled = cfg(strategy="sample", rerank=16, mmi_lambda=1.0, length_bonus=0.0,
                  temperature=1.5)
    assert generate(step, state, RULES, sampled, [3], lm_state=empty) == [[7]]


def test_no_copy_ngram_keeps_every_strategy_from_parroting_the_context():
    # The model's favourite reply, 6 7 8 9, is the context's own words; 6 10 9 also fits.
    table = chain_table((BOS, 6, 3.0), (6, 7, 3.0), (7, 8, 3.0), (8, 9, 3.0), (9, EOS, 5.0),
                        (6, 10, 1.0), (10, 9, 2.0))
    step = make_step(table)
    context = [SEP, 6, 7, 8, 9, SEP]
    for settings in ({"strategy": "greedy"}, {"strategy": "beam", "beam_width": 3},
                     {"strategy": "sample", "temperature": 0.3, "rerank": 4, "mmi_lambda": 0.0}):
        state = {"bias": np.zeros((2, VOCAB), np.float32)}
        copied = generate(step, state, RULES, cfg(**settings), [1, 2], contexts=[context] * 2)
        assert copied == [[6, 7, 8, 9]] * 2, settings  # off by default
        fresh = generate(step, state, RULES, cfg(no_copy_ngram=2, **settings), [1, 2],
                         contexts=[context, [SEP]])
        bigrams = set(zip(context, context[1:], strict=False))
        assert not bigrams & set(zip(fresh[0], fresh[0][1:], strict=False)), settings
        assert fresh[1] == [6, 7, 8, 9], settings  # a row whose context has no such words
    with pytest.raises(ValueError, match="no_copy_ngram"):
        Decoding.from_dict({"no_copy_ngram": 1})


def test_no_copy_ngram_catches_a_copy_that_only_changes_case():
    """QA: "i am going to paris" was answered "I am going to Paris". Tokens 6-9 are the
    context's words in lower case; 7 and 11 are two cases of one word ("paris", "Paris")."""
    vocab = {f"t{i}": i for i in range(VOCAB)} | {"ĠParis": 11, "Ġparis": 7}
    del vocab["t7"], vocab["t11"]
    fold = case_fold_table(vocab)
    assert fold[11] == 7 and fold[7] == 7 and fold[6] == 6
    table = chain_table((BOS, 6, 3.0), (6, 11, 3.0), (11, 8, 3.0), (8, EOS, 5.0),
                        (6, 10, 1.0), (10, 8, 2.0))
    step = make_step(table)
    state = {"bias": np.zeros((1, VOCAB), np.float32)}
    context = [[SEP, 6, 7, 8, SEP]]
    beam = cfg(strategy="beam", beam_width=2, no_copy_ngram=2)
    assert generate(step, state, RULES, beam, [None], contexts=context) == [[6, 11, 8]]
    folding = dataclasses.replace(RULES, fold=fold)
    assert generate(step, state, folding, beam, [None], contexts=context) == [[6, 10, 8]]
    # a byte-level BPE's stand-ins for non-ASCII bytes ("Ā", "ā") are other bytes: no fold
    assert list(case_fold_table({"\u0100": 0, "\u0101": 1})) == [0, 1]


def test_sampling_records_the_teacher_forced_logprobs_so_rank_needs_no_second_pass():
    step = make_step(random_table(10))
    state = biases(6, seed=13)
    settings = cfg(strategy="sample", temperature=1.3, top_p=0.9, max_len=12)
    recorded: list[list[float]] = []
    samples = sample_or_greedy(step, state, RULES, settings,
                               [np.random.default_rng(i) for i in range(6)], logprobs=recorded)
    forced = sequence_logprobs(step, state, samples, RULES)
    for sample, got, expected in zip(samples, recorded, forced, strict=True):
        if len(got) == len(sample) + 1:  # ended with </s> (else it ran into max_len)
            np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert any(len(got) == len(s) + 1 for s, got in zip(samples, recorded, strict=True))
    # Meena's sample-and-rank: mmi_lambda 0 needs no empty-context state and answers
    # with the most likely of the drawn samples.
    rank = cfg(strategy="sample", temperature=1.3, rerank=6, mmi_lambda=0.0, length_bonus=0.0,
               max_len=12)
    one = {"bias": state["bias"][:1]}
    best = generate(step, one, RULES, rank, [5])[0]
    scores: list[list[float]] = []
    candidates = sample_or_greedy(step, take_rows(one, np.zeros(6, dtype=int)), RULES, rank,
                                  [np.random.default_rng([5, j]) for j in range(6)], scores)
    assert len({tuple(c) for c in candidates}) > 1
    assert best == candidates[int(np.argmax([sum(row) for row in scores]))]


def test_automatic_length_bonus_is_each_requests_mean_token_nll():
    step = make_step(random_table(10))
    state, empty = biases(4, seed=11), biases(4, seed=12, scale=0.0)
    candidates = [[6, 7], [8], [9, 10, 11], [6]]
    owner = np.array([0, 0, 1, 1])
    settings = cfg(mmi_lambda=0.5, mmi_gamma=1)
    got = mmi_scores(step, state, empty, candidates, owner, RULES, settings)
    cond = sequence_logprobs(step, state, candidates, RULES)
    anti = sequence_logprobs(step, empty, candidates, RULES)
    for rows in ([0, 1], [2, 3]):
        bonus = -sum(cond[i].sum() for i in rows) / sum(len(cond[i]) for i in rows)
        for i in rows:
            expected = cond[i].sum() - 0.5 * anti[i][0] + bonus * len(candidates[i])
            assert got[i] == pytest.approx(expected)
    fixed = mmi_scores(step, state, empty, candidates, owner, RULES,
                       cfg(mmi_lambda=0.5, mmi_gamma=1, length_bonus=2.0))
    assert fixed[2] == pytest.approx(cond[2].sum() - 0.5 * anti[2][0] + 2.0 * 3)


def test_sequence_logprobs_matches_a_hand_computation():
    table = random_table(9)
    step = make_step(table)
    state = {"bias": np.zeros((2, VOCAB), np.float32)}
    got = sequence_logprobs(step, state, [[6, 7], [8]], RULES)
    expected = [log_softmax(table[BOS])[6], log_softmax(table[6])[7], log_softmax(table[7])[EOS]]
    np.testing.assert_allclose(got[0], expected, rtol=1e-5)
    np.testing.assert_allclose(got[1], [log_softmax(table[BOS])[8], log_softmax(table[8])[EOS]],
                               rtol=1e-5)


def test_decoding_settings_are_validated():
    assert Decoding.from_dict({"temperature": 1, "seed": 3}).temperature == 1.0
    assert Decoding.from_dict({"length_bonus": 2}).length_bonus == 2.0
    assert Decoding.from_dict({"length_bonus": None}).length_bonus is None
    with pytest.raises(ValueError, match="unknown decoding setting 'temprature'"):
        Decoding.from_dict({"temprature": 0.7})
    with pytest.raises(ValueError, match="top_p"):
        Decoding.from_dict({"top_p": 0})
    with pytest.raises(ValueError, match="strategy"):
        Decoding.from_dict({"strategy": "nucleus"})
    with pytest.raises(ValueError, match="beam_width"):
        Decoding.from_dict({"beam_width": "wide"})
    with pytest.raises(ValueError, match="rerank needs"):
        Decoding.from_dict({"strategy": "greedy", "rerank": 4})
    a = Decoding.from_dict({"seed": 1})
    assert a.without_seed() == Decoding.from_dict({"seed": 2}).without_seed()


def test_a_greedy_request_drops_the_bundles_sample_and_rank():
    """A bundle whose sweep chose sample-and-rank still serves requests for greedy (the
    server's warm-up and temperature-0 API calls): rerank belongs to the base strategy."""
    base = Decoding.from_dict({"strategy": "sample", "temperature": 1.0, "rerank": 8})
    greedy = Decoding.from_dict({"strategy": "greedy", "max_len": 8}, base=base)
    assert (greedy.strategy, greedy.rerank, greedy.max_len) == ("greedy", 0, 8)
    assert Decoding.from_dict({"seed": 3}, base=base).rerank == 8
    with pytest.raises(ValueError, match="rerank"):
        Decoding.from_dict({"strategy": "greedy", "rerank": 8}, base=base)


def test_every_decoding_setting_has_a_command_line_flag_of_its_type():
    import argparse
    import dataclasses

    from model.serve.chat import add_decoding_arguments, decoding_from_args

    parser = argparse.ArgumentParser()
    add_decoding_arguments(parser)
    assert decoding_from_args(parser.parse_args([])) == {}
    given = decoding_from_args(parser.parse_args(
        ["--strategy", "beam", "--beam-width", "3", "--early-stopping", "--top-p", "0.9"]))
    assert given == {"strategy": "beam", "beam_width": 3, "early_stopping": True, "top_p": 0.9}
    assert decoding_from_args(parser.parse_args(["--no-early-stopping"])) == {
        "early_stopping": False}
    flags = {action.dest: action for action in parser._actions}
    assert {f.name for f in dataclasses.fields(Decoding)} <= set(flags)
    assert all(flags[f.name].help for f in dataclasses.fields(Decoding))  # --help says what


def reference_beam(step, bias, k, max_len, length_penalty):
    """The textbook search: every beam times every token ranked at each step."""
    banned = np.zeros(VOCAB, dtype=bool)
    banned[list(RULES.banned)] = True
    beams = [((), 0.0, 0, False)]  # (tokens, log-probability, length, ended)
    for _ in range(max_len):
        candidates = []
        for tokens, logp, length, ended in beams:
            if ended:
                candidates.append((tokens, logp, length, True))
                continue
            previous = tokens[-1] if tokens else BOS
            logits, _ = step(np.array([previous]), {"bias": bias[None]})
            logits = np.where(banned, np.float32(-1e9), logits[0])
            logits[[BRK, EOS] if previous == BRK else [BRK] if not tokens else []] = -1e9
            for token, value in enumerate(log_softmax(logits[None])[0].astype(np.float64)):
                candidates.append((tokens + (token,), logp + value, length + 1, token == EOS))
        candidates.sort(key=lambda c: -c[1] / max(c[2], 1) ** length_penalty)
        beams = candidates[:k]
        if all(ended for *_, ended in beams):
            break
    return [strip_tokens(list(tokens), RULES) for tokens, *_ in beams]


@pytest.mark.parametrize("seed, width, length_penalty", [(1, 2, 1.0), (2, 3, 0.6), (3, 5, 1.4)])
def test_beam_ranks_only_each_beams_best_tokens_and_agrees_with_the_full_ranking(
        seed, width, length_penalty):
    step, state = make_step(random_table(seed)), biases(4, seed=seed + 10, scale=2.0)
    settings = cfg(strategy="beam", beam_width=width, length_penalty=length_penalty, max_len=5)
    results = beam_search(step, state, RULES, settings, keep=width)
    for row, result in enumerate(results):
        expected = reference_beam(step, state["bias"][row], width, 5, length_penalty)
        assert [tokens for tokens, _ in result] == expected


def test_a_beam_wider_than_the_vocabulary_still_ranks_its_candidates():
    step, state = make_step(random_table(3)), biases(2, seed=4)
    results = beam_search(step, state, RULES, cfg(strategy="beam", beam_width=VOCAB + 8,
                                                  max_len=4), keep=3)
    for row in results:
        scores = [score for _, score in row]
        assert len(row) == 3 and scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("size, k", [(49152, 4), (50001, 6), (3000, 1)])
def test_top_k_ids_finds_the_k_largest_of_a_large_vocabulary(size, k):
    rng = np.random.default_rng(size)
    values = rng.standard_normal((3, 2, size)).astype(np.float32)  # [B, beams, V]
    values[0, 0, :] = -np.inf  # a frozen beam: one finite entry
    values[0, 0, 7] = 0.0
    values[1, 0, 256:256 + k] = 50.0  # every winner in one block
    values[2, 1, size - k:] = 50.0  # every winner past the last whole block (50001)
    ids = top_k_ids(values, k)
    assert ids.shape == (3, 2, k)
    for b in range(3):
        for beam in range(2):
            expected = np.sort(values[b, beam])[::-1][:k]
            assert np.array_equal(np.sort(values[b, beam, ids[b, beam]])[::-1], expected)
    assert set(ids[1, 0]) == set(range(256, 256 + k))
    assert 7 in ids[0, 0]


def test_repetition_penalty_applies_once_to_each_written_token_and_never_to_breaks():
    logits = np.arange(VOCAB, dtype=np.float32)[None] - 7.0  # [1, V]: token 8 > 0 > token 6
    before = logits.copy()
    history = np.array([[6, 6, 8, BRK, 8, 9]])  # 6 and 8 written twice
    constrain(logits, history, RULES, cfg(strategy="greedy", repetition_penalty=2.0))
    assert logits[0, 6] == -2.0  # -1 * 2, once
    assert logits[0, 8] == 0.5 and logits[0, 9] == 1.0  # 1 / 2 and 2 / 2, once
    assert logits[0, BRK] == before[0, BRK]  # bubbles may always break again
    untouched = [t for t in range(VOCAB) if t not in (6, 8, 9, *RULES.banned)]
    assert np.array_equal(logits[0, untouched], before[0, untouched])


def test_take_rows_reorders_rows_and_leaves_shared_entries_alone():
    state = {"h": np.arange(6).reshape(3, 2), SHARED + "cache": np.arange(4)}
    taken = take_rows(state, np.array([2, 2, 0]))
    assert taken["h"].tolist() == [[4, 5], [4, 5], [0, 1]]
    assert taken[SHARED + "cache"] is state[SHARED + "cache"]
