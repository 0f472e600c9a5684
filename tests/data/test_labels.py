"""Binary label tasks from a manifest: classes, splits, and clear errors."""
import copy
import re

import numpy as np
import pytest

from voicesae_core import VoicesaeError
from voicesae_core.data import labels


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


def _features():
    from voicesae_core.report.study import Feature
    return {"language": Feature("language", "language", "es", ("Spanish", "English"), ["en"]),
            "music": Feature("music", "is_music", 1, ("music", "voice"), [0]),
            "accent": Feature("language", "accent", "scottish", ("Scottish", "other"))}


def test_feature_tasks_builds_the_features_the_dataset_has_and_lists_the_rest(quick):
    lang = quick["music"]  # with both languages and music in both splits
    tasks, skipped = labels.feature_tasks(lang, _features())
    assert list(tasks) == ["language", "music"] and skipped == {"accent": "the metadata has no column 'accent'"}
    ours = labels.task(lang, "language", "es", ["en"], name="Spanish vs English")
    assert tasks["language"].name == "Spanish vs English" and tasks["music"].name == "music vs voice"
    np.testing.assert_array_equal(tasks["language"].y_test, ours.y_test)
    np.testing.assert_array_equal(tasks["language"].x_train, ours.x_train)


def test_feature_tasks_skips_a_present_column_that_cannot_make_the_task_naming_file_and_column(quick):
    tasks, skipped = labels.feature_tasks(quick["language"], _features())  # the language set has no music
    assert list(tasks) == ["language"]
    assert re.search(r"language\.metadata\.csv: column 'is_music' has no row with value '1'", skipped["music"])
    lang = copy.deepcopy(quick["language"])  # the fixture is shared
    lang.metadata.loc[lang.metadata["split"] == "test", "language"] = "en"  # no Spanish left to test on
    tasks, skipped = labels.feature_tasks(lang, _features())
    assert tasks == {} and "the test split has no positive rows" in skipped["language"]
