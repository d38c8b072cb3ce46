"""The adaptation registry: every method of spec §5 by name, alias and preset."""

import pytest

from alor_core import adaptation
from alor_core.adaptation import Finetune, FTParams, PromptTuning, PTParams
from alor_core.errors import ConfigError, UnknownNameError


def test_available_lists_all_paper_methods():
    # FT and PT are registered now, and nothing is left planned.
    assert adaptation.available() == ["ct", "ft", "lp", "pt", "zeroshot"]
    assert "ft" not in adaptation.PLANNED and "pt" not in adaptation.PLANNED


@pytest.mark.parametrize(
    "name, cls",
    [
        ("ft", Finetune),
        ("finetune", Finetune),
        ("FT", Finetune),
        ("pt", PromptTuning),
        ("coop", PromptTuning),
        ("CoOp", PromptTuning),
    ],
)
def test_create_ft_and_pt_by_name_and_alias(name, cls):
    # Names and aliases (any case) build the adapter with the 'fast' preset by default.
    adapter = adaptation.create(name)
    assert isinstance(adapter, cls)
    assert adapter.params == (FTParams if cls is Finetune else PTParams).preset("fast")


def test_create_passes_the_preset():
    # 'paper' reaches the adapter's params; an unknown preset names the method and the value.
    assert adaptation.create("ft", "paper").params == FTParams.preset("paper")
    assert adaptation.create("pt", "paper").params.epochs == 200
    with pytest.raises(ConfigError, match="PT preset must be 'fast' or 'paper'; got 'turbo'"):
        adaptation.create("pt", "turbo")


def test_unknown_name_lists_available_names():
    # An unknown name raises UnknownNameError listing every method.
    with pytest.raises(UnknownNameError, match=r"unknown adaptation 'ftt'; available: ct, ft, lp, pt, zeroshot$"):
        adaptation.create("ftt")
