"""The study file: the shipped studies load, every key is documented, bad keys and values are one
clear line, overrides and chapter parameters take effect where they should, and a written study
reads back the same from another folder."""
import subprocess
import sys

import pytest
import torch
import yaml

from conftest import QUICK_STUDY, REPO
from voicesae_core import VoicesaeError
from voicesae_core.report import study


def test_the_shipped_studies_load_and_name_existing_manifests():
    for name in ("paper-quick", "paper-full"):
        s = study.load(REPO / "studies" / f"{name}.yml")
        assert s.name == name and list(s.features) == ["language", "music"]
        for role in s.datasets:
            assert s.manifest_path(role).is_file(), role
        assert s.single_name() == "L200_k20_topk_s0"
        assert s.features["language"].label == "Spanish vs English"
        assert s.features["music"].paper.grid == "fig3" and s.features["music"].positive == 1


def test_every_key_is_documented_and_listed_by_the_command():
    keys = study.keys()
    undocumented = [k.name for k in keys if not k.doc and k.name.rsplit(".", 1)[-1] not in ("latent_dim", "k")]
    assert not undocumented
    names = {k.name for k in keys}
    assert {"grid.ks", "chapters.identification.bootstrap", "features.<name>.positive", "device"} <= names
    r = subprocess.run([sys.executable, "-m", "voicesae_core", "study", "keys"], capture_output=True, text=True)
    assert r.returncode == 0 and "chapters.identification.bootstrap: int (default 1000): Resamples" in r.stdout


def _study(tmp_path, text: str):
    path = tmp_path / "s.yml"
    path.write_text(text)
    return path


BASE = """
name: mine
datasets: {train: train.json, lang: lang.json}
features:
  lang: {dataset: lang, column: language, positive: es, names: [Spanish, English]}
"""


@pytest.mark.parametrize("extra, message", [
    ("grid: {ks: [5, twenty]}", r"s.yml: grid.ks\[1\]: expected an integer, got 'twenty'"),
    ("grid: {kz: [5]}", r"s.yml: grid.kz: unknown key \(did you mean ks\?\)"),
    ("grid: {activation: gelu}", r"s.yml: grid.activation: expected one of topk, batchtopk, relu, got 'gelu'"),
    ("chapters: {catalogue: {audio: yes please}}", r"chapters.catalogue.audio: expected true or false"),
    ("chapters: {splitting: {feature: music}}", r"chapters.splitting.feature: 'music' is not a feature"),
    ("grid: {latent_dims: []}", r"grid.latent_dims: expected at least one value"),
    ("device: gpu", r"device: expected auto, cpu, cuda or cuda:N, got 'gpu'"),
    ("training: {steps: 0}", r"training: steps and batch_size must be positive"),
    ("chapters: {universality: {models: {B: {lang: b.json}}}}", r"chapters.universality.models.B: no sae_train dataset"),
    ("chapters: {universality: {models: {B: {sae_train: b.json, lang: l.json}}}}",
     r"chapters.universality.models.B: \['sae_train'\]: not among the study's datasets \(\['lang', 'train'\]\)"),
    ("chapters: {universality: {latent_dim: 8, k: 9}}", r"chapters.universality.k: K 9 exceeds latent_dim 8"),
    ("chapters: {wide: {expansions: [4, 0]}}", r"chapters.wide.expansions: expected positive integers"),
    ("chapters: {wide: {ks: [20, 20]}}", r"chapters.wide.ks: \[20\] given more than once"),
    ("chapters: {wide: {recovered_at: 1.5}}", r"chapters.wide.recovered_at: expected a share between 0 and 1"),
])
def test_a_bad_key_or_value_is_one_line_naming_it(tmp_path, extra, message):
    with pytest.raises(VoicesaeError, match=message):
        study.load(_study(tmp_path, BASE + extra))


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(VoicesaeError, match=r"nothere.yml: no such study file"):
        study.load(tmp_path / "nothere.yml")
    with pytest.raises(VoicesaeError, match=r"s.yml: not valid YAML \(line 2\)"):
        study.load(_study(tmp_path, "name: x\n  bad: [\n"))
    with pytest.raises(VoicesaeError, match=r"s.yml: features.lang.names: missing"):
        study.load(_study(tmp_path, BASE.replace(", names: [Spanish, English]", "")))
    with pytest.raises(VoicesaeError, match=r"features.lang.dataset: 'lang' is not a dataset"):
        study.load(_study(tmp_path, BASE.replace("lang: lang.json", "other: lang.json")))
    with pytest.raises(VoicesaeError, match=r"no dataset 'music' under 'datasets'"):
        study.load(_study(tmp_path, BASE)).manifest_path("music")


def test_defaults_are_the_papers_settings(tmp_path):
    s = study.load(_study(tmp_path, BASE))
    assert s.grid.latent_dims == [100, 200, 300, 400, 500, 600] and s.grid.ks == [5, 10, 15, 20, 25, 30, 35]
    assert (s.single.latent_dim, s.single.k, s.training.plan(1_100_000)) == (200, 20, (2, 4096))
    assert s.features["lang"].negative == [] and s.features["lang"].paper.grid is None
    assert s.manifest_path("lang") == tmp_path / "lang.json"


def test_overrides_set_the_named_key_or_every_chapter_option_of_that_name(tmp_path):
    s = study.load(_study(tmp_path, BASE))
    o = study.override(s, {"ks": [5, 20], "k": 5, "bootstrap": 0, "chapters.steering.a_phi": 2,
                           "datasets.lang": "/data/other.json"})
    assert o.grid.ks == [5, 20] and o.single.k == 5 and o.chapters.splitting.k == 20  # k: the single model's
    assert o.chapters.identification.bootstrap == 0 and o.chapters.stability.bootstrap == 0
    assert o.chapters.steering.a_phi == 2.0 and o.chapters.verification.a_phi == 1.0
    assert str(o.manifest_path("lang")) == "/data/other.json"
    assert s.grid.ks == [5, 10, 15, 20, 25, 30, 35]  # the original is untouched
    with pytest.raises(VoicesaeError, match=r"parameter 'bootsrap': no study key or chapter parameter of that name "
                                            r"\(did you mean bootstrap\?\)"):
        study.override(s, {"bootsrap": 0})
    with pytest.raises(VoicesaeError, match=r"parameter override: chapters.stability.seeds\[0\]: expected an integer"):
        study.override(s, {"chapters.stability.seeds": ["a"]})
    with pytest.raises(VoicesaeError, match=r"single: latent_dim 200, k 5 is not a model of the grid"):
        study.override(s, {"ks": [10], "k": 5})  # said on loading, not when chapter 3 asks for it


def test_a_chapter_parameter_changed_in_the_notebook_wins_and_one_left_at_its_default_takes_the_study(tmp_path):
    s = study.load(_study(tmp_path, BASE + "chapters: {identification: {bootstrap: 50}, steering: {a_phi: 3}}"))
    assert s.chapter("identification", bootstrap=1000).bootstrap == 50  # the default: the study's value
    assert s.chapter("identification", bootstrap=0).bootstrap == 0  # set on purpose (papermill -p)
    assert s.chapter("steering", a_phi=1.0, a_phi_sweep=[0.0, 1.0]).a_phi_sweep == [0.0, 1.0]
    with pytest.raises(VoicesaeError, match=r"chapter 'identification' has no option 'bootstrapp'"):
        s.chapter("identification", bootstrapp=1)
    with pytest.raises(VoicesaeError, match=r"identification.bootstrap: expected an integer, got 'many'"):
        s.chapter("identification", bootstrap="many")


def test_a_written_study_reads_back_the_same_from_another_folder(tmp_path):
    s = study.override(study.load(QUICK_STUDY), {"ks": [5, 20], "chapters.audio.models": ["m/mine.nemo", "resemblyzer"],
                                                 "recordings_manifest": "rec/recordings.json"})
    written = s.write(tmp_path / "run" / "study.yml")
    back = study.load(written)
    assert [back.speaker_model(m) for m in back.chapters.audio.models] == [str(REPO / "studies" / "m" / "mine.nemo"),
                                                                          "resemblyzer"]
    assert back.resolve(back.chapters.audio.recordings_manifest) == REPO / "studies" / "rec" / "recordings.json"
    assert back.to_dict() != s.to_dict()  # the paths are rewritten for the new folder ...
    for role in s.datasets:  # ... and name the same files
        assert back.manifest_path(role).resolve() == s.manifest_path(role).resolve()
    assert back.resolve(back.sources).resolve() == REPO
    others = s.chapters.universality.models
    assert others and all(back.other_manifest_path(m, role).resolve() == s.other_manifest_path(m, role).resolve()
                          for m in others for role in others[m])
    assert back.grid == s.grid and back.features == s.features
    assert back.sha256() == s.sha256()
    assert yaml.safe_load(written.read_text())["grid"]["ks"] == [5, 20]


def test_study_check_prints_the_study_as_the_notebooks_read_it(tmp_path):
    r = subprocess.run([sys.executable, "-m", "voicesae_core", "study", "check", str(QUICK_STUDY), "-p", "ks", "[5]",
                        "-p", "single.k", "5"], capture_output=True, text=True)
    assert r.returncode == 0 and yaml.safe_load(r.stdout)["grid"]["ks"] == [5]
    r = subprocess.run([sys.executable, "-m", "voicesae_core", "study", "check", str(_study(tmp_path, BASE + "x: 1"))],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().endswith("s.yml: x: unknown key (keys here: name, datasets, features, "
                                                           "grid, single, training, chapters, models, device, sources)")


def test_a_nemo_speaker_model_is_a_path_from_the_study_file_and_a_name_stays_a_name(tmp_path):
    s = study.load(_study(tmp_path, BASE))
    assert s.speaker_model("models/mine.nemo") == str(tmp_path / "models" / "mine.nemo")
    assert s.speaker_model("/abs/mine.nemo") == "/abs/mine.nemo"
    assert s.speaker_model("resemblyzer") == "resemblyzer" and s.speaker_model("random:titanet-small") == "random:titanet-small"


def test_the_training_budget_is_steps_with_a_batch_capped_by_the_rows():
    t = study.Training()  # the paper-scale default: 2 epochs of 1.1 M rows at batch 4096
    assert t.plan(1_100_000) == (2, 4096)
    assert study.Training(steps=162, batch_size=1024).plan(55_000) == (3, 1024)  # the quick study: as before
    assert t.plan(238) == (60, 29)  # 238 rows: batch 29 (an eighth), 9 steps an epoch, 60 epochs = 540 steps
    assert t.plan(5) == (108, 1)  # 5 rows: batch 1, 5 steps an epoch


def test_the_stability_configurations_default_to_the_single_model_and_the_grids_ends(tmp_path):
    s = study.load(_study(tmp_path, BASE + "grid: {latent_dims: [64, 128], ks: [4, 8]}\nsingle: {latent_dim: 64, k: 8}"))
    assert s.stability_configs([]) == [[64, 8], [64, 4], [128, 8]]
    assert s.stability_configs([[128, 4]]) == [[128, 4]]
    assert study.load(QUICK_STUDY).stability_configs(study.load(QUICK_STUDY).chapters.stability.configs) == \
        [[200, 20], [100, 5], [400, 20]]


def test_notebook_parameters_are_checked_by_name_and_type_before_anything_runs():
    import pathlib
    ns = {"study": "s.yml", "output_dir": "o", "bootstrap": 10, "In": [], "Out": {}, "_i1": "x", "Path": pathlib.Path,
          "pathlib": pathlib, "get_ipython": print}
    study.check_parameters(ns, "identification")  # IPython's names, modules, classes and functions pass
    for bad, message in (({"bootstrapp": 3}, r"parameter 'bootstrapp': this notebook has no such parameter \(did you "
                                             r"mean bootstrap\?\); it takes study, output_dir, device, bootstrap"),
                         ({"bootstrap": "abc"}, r"parameter bootstrap: expected an integer, got 'abc'"),
                         ({"study": 5}, r"parameter study: expected text, got 5"),
                         ({"output_dir": " "}, r"parameter output_dir: empty")):
        with pytest.raises(VoicesaeError, match=message):
            study.check_parameters({**ns, **bad}, "identification")
    with pytest.raises(VoicesaeError, match="parameter 'bootstrap': this notebook has no such parameter"):
        study.check_parameters(ns)  # chapter 1 has no options


def test_every_notebook_checks_its_parameters_first():
    """Each chapter's setup cell calls check_parameters with its own chapter before it loads the study."""
    import re
    for path in sorted((REPO / "notebooks").glob("[01]*.py")):
        text = path.read_text()
        chapters = re.findall(r's\.chapter\("(\w+)"', text)
        call = re.search(r"check_parameters\(globals\(\)(?:, \"(\w+)\")?\)", text)
        assert call and call.start() < text.index("s = load_study(study, device=device)"), path.name
        assert call.group(1) == (chapters[0] if chapters else None), path.name


def test_every_chapter_runs_its_saes_on_the_study_device_or_its_device_parameter():
    """Each chapter declares ``device``; every grid it loads, trains or extracts with goes to s.device."""
    import re
    for path in sorted((REPO / "notebooks").glob("[01]*.py")):
        text = path.read_text()
        assert re.search(r'^device = ""  # ', text, re.M), path.name
        calls = re.findall(r"(load_grid\(|TrainConfig\(|extract_models\()(.*?)\)(?:\[0\])?\n", text, re.S)
        for name, args in calls:
            assert "s.device" in args, f"{path.name}: {name} without s.device"
    assert study.load(QUICK_STUDY, device="cpu").device == "cpu"
    assert study.load(QUICK_STUDY).device == "auto"
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(VoicesaeError, match="parameter device cuda: this machine has no CUDA device"):
            study.load(QUICK_STUDY, device="cuda")
    with pytest.raises(VoicesaeError, match="parameter device 'gpu': expected auto, cpu, cuda or cuda:N"):
        study.load(QUICK_STUDY, device="gpu")


def test_papermill_run_directly_stops_at_an_unknown_or_mistyped_parameter(tmp_path):
    """The real thing: jupytext -> papermill on chapter 1, as a user would run it without our pipeline."""
    import papermill as pm
    subprocess.run([sys.executable, "-m", "jupytext", "--to", "ipynb", str(REPO / "notebooks" / "01_data.py"),
                    "-o", str(tmp_path / "01.ipynb")], check=True, capture_output=True)
    with pytest.raises(pm.PapermillExecutionError, match="parameter 'output_dirr': this notebook has no such"):
        pm.execute_notebook(str(tmp_path / "01.ipynb"), str(tmp_path / "run.ipynb"), kernel_name="python3",
                            parameters={"study": str(QUICK_STUDY), "output_dirr": str(tmp_path / "o")},
                            progress_bar=False, cwd=str(REPO))
    assert not (tmp_path / "o").exists()  # (a mistyped value: the unit test above)
    if not torch.cuda.is_available():  # -p device cuda on a machine without one: said, not dropped
        with pytest.raises(pm.PapermillExecutionError, match="parameter device cuda: this machine has no CUDA"):
            pm.execute_notebook(str(tmp_path / "01.ipynb"), str(tmp_path / "run.ipynb"), kernel_name="python3",
                                parameters={"study": str(QUICK_STUDY), "output_dir": str(tmp_path / "o"),
                                            "device": "cuda"}, progress_bar=False, cwd=str(REPO))
