"""Help that answers, generated from the declarations: every option's allowed values and
default, every --set key, in one style (issue 11)."""

from __future__ import annotations

import pytest

from xordsim.cli import main
from xordsim.config import GDConfig
from xordsim.figures.registry import FIGURES
from xordsim.theorems.specs import SPECS


def help_text(argv, capsys) -> str:
    assert main([*argv, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())  # argparse re-wraps lines


def norm(text: str) -> str:
    return " ".join(text.replace("%%", "%").split())


def test_train_help_lists_every_declared_option(capsys):
    text = help_text(["train"], capsys)
    for p in GDConfig.params().values():
        assert p.option in text
        assert norm(p.help_text()) in text, p.name
        if p.choices:
            assert "{" + ",".join(p.choices) + "}" in text


def test_theorems_help_lists_every_result_and_set_key(capsys):
    text = help_text(["theorems"], capsys)
    for name, spec in SPECS.items():
        assert name in text
        for key, p in spec.params.items():
            assert key in text and norm(p.help_text()) in text, (name, key)


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_help_lists_its_set_keys(name, capsys):
    text = help_text(["figure", name], capsys)
    for key, p in FIGURES[name].schema.items():
        assert norm(f"{key}: {p.help_text()}") in text


@pytest.mark.parametrize("argv", [["mnist", "cluster"], ["mnist", "compress"]])
def test_subcommands_show_only_their_options(argv, capsys):
    text = help_text(argv, capsys)
    assert "--clusters" in text if argv[1] == "cluster" else "--small-channels" in text
    assert ("--small-channels" in text) == (argv[1] == "compress")
    assert ("--clusters" in text) == (argv[1] == "cluster")


@pytest.mark.parametrize("argv", [[], ["train"], ["theorems"], ["figure"], ["reproduce"],
                                  ["sweep"], ["mnist", "train"], ["data", "fetch"]])
def test_help_has_no_markup(argv, capsys):
    text = help_text(argv, capsys)
    assert "``" not in text and "%%" not in text and ":mod:" not in text


def test_dask_is_offered_where_it_applies_and_says_which_figures(capsys):
    from xordsim.figures.registry import sweep_figures

    sweeps = sweep_figures()
    assert {"fig1", "margin", "sample-complexity"} <= set(sweeps) and "fig2" not in sweeps
    for name in FIGURES:
        text = help_text(["figure", name], capsys)
        assert ("--dask" in text) == (name in sweeps), name
        assert (f"store DIR/sweeps/{name}" in text) == (name in sweeps), name
    text = help_text(["figure"], capsys)
    assert f"{', '.join(sweeps)} are sweeps" in text and "take no --dask" in text
    text = help_text(["reproduce"], capsys).replace("- ", "-")  # argparse breaks at hyphens
    assert f"--dask ADDRESS run the figures that are sweeps ({', '.join(sweeps)}) on Dask" \
        in text and "ADDRESS: local:N" in text
