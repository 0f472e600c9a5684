"""Binary label tasks from a manifest: classes, splits, and clear errors."""
import numpy as np
import pytest

from voicesae_core import VoicesaeError, labels


def test_task_spanish_vs_english_leaves_out_music(quick):
    lang = quick["language"]
    t = labels.task(lang, "language", "es", "en", name="Spanish vs English")
    meta = lang.metadata
    for split, y, m in (("train", t.y_train, t.meta_train), ("test", t.y_test, t.meta_test)):
        rows = meta[(meta.split == split) & meta.language.isin(["es", "en"])]
        assert len(y) == len(rows) and y.sum() == (rows.language == "es").sum()
        assert (m.language == "es").tolist() == y.tolist()
    # The embeddings are those rows' embeddings.
    first = t.meta_test.iloc[0]["id"]
    assert np.array_equal(t.x_test[0], lang.embeddings[meta.index[meta.id == first][0]])
    assert t.counts().loc["positive", "test"] == t.y_test.sum()


def test_values_compare_as_text(quick):
    music = quick["music"]
    a, b = labels.task(music, "is_music", 1, 0), labels.task(music, "is_music", "1", "0")
    assert np.array_equal(a.y_train, b.y_train) and a.y_train.any()


def test_clear_errors(quick):
    lang = quick["language"]
    with pytest.raises(VoicesaeError, match=r"no column\(s\) \['accent'\]"):
        labels.task(lang, "accent", "es")
    with pytest.raises(VoicesaeError, match=r"column 'language' has no row with value 'fr'"):
        labels.task(lang, "language", "fr")
    no_test_spanish = lang.subset(~((lang.metadata.split == "test") & (lang.metadata.language == "es")))
    with pytest.raises(VoicesaeError, match=r"language.metadata.csv: es vs en: the test split has no positive rows"):
        labels.task(no_test_spanish, "language", "es", "en", name="es vs en")


def test_group_counts_like_table_1(quick):
    t = labels.group_counts(quick["language"], ["language", "gender"])
    assert list(t.columns) == ["train", "test"]
    assert t.values.sum() == len(quick["language"].metadata)
