"""MulanStream on the shared Mulan files (skipped when absent) and on written files."""

import pathlib

import numpy as np
import pytest

from streamml.datasets import DriftingMultiLabel, Emotions, MulanStream, SparseTopicStream

DATA = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "multilabel"
needs_data = pytest.mark.skipif(not DATA.exists(), reason=f"Mulan data not found at {DATA}")


def test_bundled_emotions_is_the_mulan_set():
    dataset = Emotions()
    rows = list(dataset)
    assert len(rows) == dataset.n_samples == 593
    assert dataset.n_features == 72 and len(dataset.labels) == 6
    assert all(len(x) == 72 and len(y) == 6 for x, y in rows)
    assert all(isinstance(v, float) for v in rows[0][0].values())
    card = np.mean([sum(y.values()) for _, y in rows])
    assert card == pytest.approx(1.869, abs=0.01)  # Mulan's published label cardinality


@needs_data
def test_emotions_and_flags_shapes():
    emotions = MulanStream(DATA / "emotions" / "emotions.arff")
    rows = list(emotions)
    assert len(rows) == emotions.n_samples == 593
    assert emotions.n_features == 72 and len(emotions.labels) == 6
    assert all(len(x) == 72 and len(y) == 6 for x, y in rows)
    card = np.mean([sum(y.values()) for _, y in rows])
    assert card == pytest.approx(1.869, abs=0.01)  # Mulan's published label cardinality
    flags = list(MulanStream(DATA / "flags" / "flags.arff"))
    assert len(flags) == 194 and isinstance(flags[0][0]["landmass"], float)


@needs_data
def test_birds_train_then_test_with_quoted_names():
    stream = MulanStream([DATA / "birds" / "birds-train.arff", DATA / "birds" / "birds-test.arff"])
    rows = list(stream)
    assert len(rows) == 645 and len(stream.labels) == 19
    assert "Swainson's Thrush" in stream.labels
    empty = np.mean([not any(y.values()) for _, y in rows])
    assert empty == pytest.approx(0.46, abs=0.02)


def _write(folder, body, labels=("a", "b")):
    (folder / "t.arff").write_text(body)
    (folder / "t.xml").write_text(
        '<labels xmlns="http://mulan.sourceforge.net/labels">'
        + "".join(f'<label name="{l}"></label>' for l in labels) + "</labels>")
    return folder / "t.arff"


def test_sparse_rows_equal_dense_rows(tmp_path):
    header = ("@relation t\n@attribute x1 numeric\n@attribute x2 numeric\n"
              "@attribute a {0,1}\n@attribute b {0,1}\n@data\n")
    dense = list(MulanStream(_write(tmp_path, header + "0,3.5,0,1\n1,0,1,0\n")))
    sparse = list(MulanStream(_write(tmp_path, header + "{1 3.5,3 1}\n{0 1,2 1}\n")))
    assert dense == sparse
    assert dense[0] == ({"x1": 0.0, "x2": 3.5}, {"a": False, "b": True})


def test_bad_files_fail_clearly(tmp_path):
    header = "@relation t\n@attribute x1 numeric\n@attribute a {0,1}\n@attribute b {0,1}\n@data\n"
    with pytest.raises(ValueError, match=r"t.arff, line 6: attribute 'a' has value '2', outside"):
        list(MulanStream(_write(tmp_path, header + "1,2,0\n")))
    with pytest.raises(ValueError, match="2 values for 3 attributes"):
        list(MulanStream(_write(tmp_path, header + "1,0\n")))
    with pytest.raises(ValueError, match="not attributes"):
        MulanStream(_write(tmp_path, header, labels=("a", "zz")))
    with pytest.raises(FileNotFoundError, match="ARFF file not found"):
        MulanStream(tmp_path / "missing.arff")


def test_drifting_generator_changes_dependencies_at_known_points():
    stream = DriftingMultiLabel(n_features=8, n_labels=9, n_groups=3, drift_at=(2000,),
                                n_samples=4000, density=0.3, seed=0)
    rows = list(stream)
    assert len(rows) == 4000
    Y = np.array([[y[f"l{i}"] for i in range(9)] for _, y in rows])
    assert 0.15 < Y.mean() < 0.45

    def jaccard(block, a, b):
        both = (block[:, a] & block[:, b]).sum()
        return both / max((block[:, a] | block[:, b]).sum(), 1)

    for regime, block in ((0, Y[:2000]), (1, Y[2000:])):
        groups = stream.groups_at(0 if regime == 0 else 2000)
        same = [jaccard(block, int(a[1:]), int(b[1:])) for g in groups for a in g for b in g if a < b]
        cross = [jaccard(block, int(a[1:]), int(b[1:])) for g in groups for h in groups if g != h
                 for a in g for b in h]
        assert np.mean(same) > np.mean(cross) + 0.15
    assert stream.groups_at(0) != stream.groups_at(2000)
    with pytest.raises(ValueError, match="n_groups"):
        DriftingMultiLabel(n_labels=2, n_groups=3)


def test_sparse_topic_stream_is_sparse_grouped_and_drifts():
    stream = SparseTopicStream(n_features=2000, n_labels=200, n_groups=20, drift_at=(1000,),
                               n_samples=2000, seed=3)
    rows = list(stream)
    assert len(rows) == 2000 and rows[0] == next(iter(stream))  # seeded: the same stream
    # Sparse counts: only the words present, positive integers, names inside the vocabulary.
    sizes = [len(x) for x, _ in rows]
    assert max(sizes) < 100 and all(v >= 1 and v == int(v) for x, _ in rows for v in x.values())
    assert all(0 <= int(k[1:]) < 2000 for x, _ in rows[:200] for k in x)
    Y = np.array([[y[f"l{i}"] for i in range(200)] for _, y in rows])
    assert 1 <= Y.sum(axis=1).min() and Y.sum(axis=1).max() <= 6

    def same_topic_share(block, groups):
        """Share of co-occurring label pairs whose labels share a topic."""
        topic = {int(a[1:]): g for g, members in enumerate(groups) for a in members}
        same = total = 0
        for row in block:
            on = np.flatnonzero(row)
            for i, a in enumerate(on):
                for b in on[i + 1:]:
                    total += 1
                    same += topic[a] == topic[b]
        return same / total

    before, after = stream.groups_at(0), stream.groups_at(1000)
    assert before != after
    # Labels co-occur within their topic (two topics rarely meet), and after the drift
    # within the new topics, not the old ones.
    assert same_topic_share(Y[:1000], before) > 0.6
    assert same_topic_share(Y[1000:], after) > 0.6
    assert same_topic_share(Y[1000:], before) < 0.2
    # Each label's own words: label l's vocabulary is over-represented where l is present.
    words = stream._label_words[7]
    has = [sum(x.get(f"w{w}", 0) for w in set(words.tolist())) for x, _ in rows]
    has = np.array(has)
    assert has[Y[:, 7]].mean() > 3 * has[~Y[:, 7]].mean()
    with pytest.raises(ValueError, match="n_groups"):
        SparseTopicStream(n_labels=5, n_groups=6)
    with pytest.raises(ValueError, match="vocabulary_per_label"):
        SparseTopicStream(n_features=10, vocabulary_per_label=20)


_HEADER = ("@relation t\n% a comment\n@attribute x1 numeric\n@attribute c {red,blue}\n"
           "@attribute a {0,1}\n@attribute b {0,1}\n@data\n")  # @data is line 7


def test_sparse_option_yields_only_non_zero_features(tmp_path):
    path = _write(tmp_path, _HEADER + "0,red,0,1\n{0 2.5,3 1}\n")
    full = list(MulanStream(path))
    assert full[1][0] == {"x1": 2.5, "c": "red"}
    assert list(MulanStream(path, sparse=True)) == [
        ({"c": "red"}, {"a": False, "b": True}), ({"x1": 2.5, "c": "red"}, {"a": False, "b": True})]
    auto = list(MulanStream(path, sparse="auto"))
    assert auto[0][0] == {"x1": 0.0, "c": "red"}  # dense rows stay dense
    assert auto[1][0] == {"x1": 2.5, "c": "red"}
    with pytest.raises(ValueError, match="sparse must be"):
        MulanStream(path, sparse="yes")


@pytest.mark.parametrize(
    ("row", "match"),
    [("abc,red,0,1", r"line 9: attribute 'x1' has value 'abc', not a number"),
     ("1,green,0,1", r"line 9: attribute 'c' has value 'green', outside its declaration"),
     ("{0 1,9 1}", r"line 9: sparse index 9 out of range"),
     ("{0 1,3 1", r"line 9: sparse row not closed"),
     ("{x 1}", r"line 9: sparse entry 'x 1' does not start with an attribute index")],
)
def test_bad_rows_name_the_file_and_line(tmp_path, row, match):
    path = _write(tmp_path, _HEADER + "1,red,0,1\n" + row + "\n")
    with pytest.raises(ValueError, match=r"t\.arff, " + match):
        list(MulanStream(path))


def test_malformed_label_file_names_file_and_line(tmp_path):
    path = _write(tmp_path, _HEADER + "1,red,0,1\n")
    (tmp_path / "t.xml").write_text('<labels>\n<label name="a"></labels>')
    with pytest.raises(ValueError, match=r"t\.xml, line 2, column \d+: malformed"):
        MulanStream(path)


@needs_data
def test_bibtex_sparse_rows_hold_only_the_words():
    stream = MulanStream(DATA / "bibtex" / "bibtex.arff", sparse=True)
    x, y = next(iter(stream))
    assert 0 < len(x) < 200 and all(v == 1.0 for v in x.values())
    assert len(y) == 159


def test_sparse_topic_stream_only_present_labels():
    full = list(SparseTopicStream(n_features=500, n_labels=50, n_groups=5, n_samples=50, seed=1))
    sparse = list(SparseTopicStream(n_features=500, n_labels=50, n_groups=5, n_samples=50,
                                    only_present=True, seed=1))
    for (x1, y1), (x2, y2) in zip(full, sparse):
        assert x1 == x2 and y2 == {k: True for k, v in y1.items() if v}
