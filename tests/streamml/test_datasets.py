"""MulanStream on the shared Mulan files (skipped when absent) and on written files."""

import pathlib

import numpy as np
import pytest

from streamml.datasets import DriftingMultiLabel, Emotions, MulanStream

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
    with pytest.raises(ValueError, match="label 'a' has value '2'"):
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
