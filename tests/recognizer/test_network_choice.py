"""bench.network_choice scores mixtures as Model.second_opinion makes them."""

import json

import numpy as np

from bench import network_choice
from bench.validation import ALL_CONDITIONS


def test_score_reads_the_svc_the_network_and_their_mixture(tmp_path, capsys):
    # two single-digit strings per condition: the SVC is sure and right on the first (which
    # the network misreads), unsure and wrong on the second (which the network reads right)
    svc = np.array([[0.0, 1.0] + [0.0] * 8, [0.0, 0.55, 0.45] + [0.0] * 7])
    logits = np.zeros((2, 10))
    logits[0, 7], logits[1, 2] = 9.0, 9.0
    cache = {}
    for c in ALL_CONDITIONS:
        cache |= {c + "_d": np.zeros((2, 28, 28), np.uint8), c + "_n": np.array([1, 1])}
        cache[c + "_t"] = np.array(["1", "2"])
    np.savez(tmp_path / "cache.npz", **cache)
    np.savez(tmp_path / "svc-probs.npz", **{c: svc for c in ALL_CONDITIONS})
    np.savez(tmp_path / "logits-N.npz", **{c: logits for c in ALL_CONDITIONS})
    args = ["--dir", str(tmp_path), "--cache", str(tmp_path / "cache.npz"), "score", "N"]
    network_choice.main(args)
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["mix"] for r in rows] == [list(m) for m in network_choice.MIXES]
    alone, mixed = rows[0], rows[1:]
    assert alone["png"] == 50.0 and alone["all"] == 50.0  # the network alone misreads the "1"
    # a mixture asks it only where the SVC is unsure, and lets it overrule 0.55 there
    assert all(r["png"] == 100.0 and r["stretched"] == 100.0 for r in mixed)
