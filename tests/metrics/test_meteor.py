import shutil

import pytest

from rsvision.metrics.meteor import MeteorStats, align, best_reference_stats, meteor, stem


def fmean(p, r):
    return p * r / (0.85 * p + 0.15 * r)


def pen(chunks, matches):
    return 0.6 * (chunks / matches) ** 0.2


def test_identical_is_one():
    stats = align(["the", "cat", "sat", "on", "the", "mat"], ["the", "cat", "sat", "on", "the", "mat"])
    assert stats == MeteorStats(6, 6, 6, 1)
    assert stats.score == 1.0  # Meteor 1.5: a full single-chunk match has no penalty


def test_reordered_fewest_chunks():
    # "on the mat" | "sat" | "the cat": 3 chunks of 6 matches
    stats = align(["on", "the", "mat", "sat", "the", "cat"], ["the", "cat", "sat", "on", "the", "mat"])
    assert (stats.matches, stats.chunks) == (6, 3)
    assert stats.score == pytest.approx(1.0 * (1 - pen(3, 6)))


def test_extra_word():
    stats = align(["the", "cat", "was", "sat", "on", "the", "mat"], ["the", "cat", "sat", "on", "the", "mat"])
    assert (stats.matches, stats.chunks) == (6, 2)
    assert stats.score == pytest.approx(fmean(6 / 7, 1.0) * (1 - pen(2, 6)))


def test_stem_matches():
    assert stem("planes") == stem("plane") and stem("parked") == stem("parking")
    stats = align(["planes", "parked"], ["a", "plane", "is", "parked"])
    assert (stats.matches, stats.chunks) == (2, 2)
    assert stats.score == pytest.approx(fmean(1.0, 0.5) * (1 - pen(2, 2)))
    stats = align(["many", "buildings", "are", "near", "a", "river"], ["many", "building", "near", "the", "rivers"])
    # many+buildings | near | river
    assert (stats.matches, stats.chunks) == (4, 3)
    assert stats.score == pytest.approx(fmean(4 / 6, 4 / 5) * (1 - pen(3, 4)))


def test_no_match_is_zero():
    assert align(["a", "b"], ["c", "d"]).score == 0.0
    assert align([], ["c", "d"]).score == 0.0


def test_best_reference_and_corpus_aggregation():
    hyp = ["planes", "parked"]
    refs = [["a", "plane", "is", "parked"], ["planes", "parked"], ["trees"]]
    assert best_reference_stats(hyp, refs) == MeteorStats(2, 2, 2, 0)  # complete, one chunk: no fragmentation
    # corpus: statistics summed first (Meteor's EVAL), then scored once
    hyps = [hyp, ["the", "cat", "was", "sat", "on", "the", "mat"]]
    corpus_refs = [refs[:1], [["the", "cat", "sat", "on", "the", "mat"]]]
    total = MeteorStats(2 + 7, 4 + 6, 2 + 6, 2 + 2)
    assert meteor(hyps, corpus_refs) == pytest.approx(total.score)
    assert total.score == pytest.approx(fmean(8 / 9, 8 / 10) * (1 - pen(4, 8)))


def test_beam_alignment_is_optimal_on_short_sentences():
    """Against every possible alignment: most weighted matches (exact 1, stem 0.5), then fewest chunks."""
    import itertools
    import random

    rng = random.Random(0)
    vocab = ["a", "the", "plane", "planes", "park", "parked", "parking", "tree", "trees", "on"]
    for _ in range(300):
        hyp = [rng.choice(vocab) for _ in range(rng.randint(0, 6))]
        ref = [rng.choice(vocab) for _ in range(rng.randint(1, 6))]
        best = None
        options = [[None] + [i for i, h in enumerate(hyp) if stem(h) == stem(r)] for r in ref]
        for assign in itertools.product(*options):
            used = [i for i in assign if i is not None]
            if len(used) != len(set(used)):
                continue
            weight = sum(1.0 if hyp[i] == ref[j] else 0.5 for j, i in enumerate(assign) if i is not None)
            chunks = sum(
                1 for j, i in enumerate(assign) if i is not None and not (j > 0 and assign[j - 1] == i - 1 and i > 0)
            )
            key = (-weight, chunks, len(used))
            if best is None or key[:2] < best[:2]:
                best = key
        stats = align(hyp, ref)
        assert (stats.matches, stats.chunks) == (best[2], best[1]), (hyp, ref)


@pytest.mark.skipif(shutil.which("java") is None, reason="the official METEOR 1.5 jar needs java")
def test_close_to_the_official_jar():
    """pycocoevalcap's meteor-1.5.jar on RSICD-like captions: within 0.03 (no synonyms or function-word weights)."""
    pytest.importorskip("pycocoevalcap")
    from pycocoevalcap.meteor.meteor import Meteor

    refs = [
        ["many buildings and green trees are in a dense residential area", "lots of houses are near a road"],
        ["a plane is parked at the airport", "two planes are parked near the terminal"],
        ["a river runs through the forest", "green trees are on both sides of a river"],
        ["several storage tanks are near the factory", "many white storage tanks are in an industrial area"],
    ]
    hyps = [
        "many houses and trees are in a residential area",
        "two planes are parked in the airport",
        "a river with trees on both sides",
        "some white tanks are in the industrial area",
    ]
    jar, _ = Meteor().compute_score({i: r for i, r in enumerate(refs)}, {i: [h] for i, h in enumerate(hyps)})
    ours = meteor([h.split() for h in hyps], [[r.split() for r in rs] for rs in refs])
    assert ours == pytest.approx(jar, abs=0.03)
