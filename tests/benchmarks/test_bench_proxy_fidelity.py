"""The proxy-fidelity benchmark's ranking figures (no training: hand-made results)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "proxy_fidelity", ROOT / "benchmarks" / "proxy_fidelity.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pf = _module()


def test_families_come_from_the_model_names():
    assert {pf.family_of(m) for m in ("efficientnet_b0", "efficientnet_b3")} == {"efficientnet"}
    assert {pf.family_of(m) for m in ("resnet18", "resnet101")} == {"resnet"}
    assert {pf.family_of(m) for m in ("gernet_s", "gernet_l")} == {"gernet"}
    grown = {pf.family_of(f"accelsearch:efficientnet-b0{s}") for s in ("", "-phi1", "-phi3")}
    assert grown == {"accelsearch:efficientnet-b0"}


def test_ground_truth_is_the_default_checkpoint_and_the_growth_order():
    truth = pf.ground_truth(["efficientnet_b1", "accelsearch:efficientnet-b0-phi2"])
    assert truth["efficientnet_b1"]["checkpoint"] == "efficientnet_b1.ra4_e3600_r240_in1k"
    assert truth["efficientnet_b1"]["imagenet_top1"] == pytest.approx(81.444)
    assert truth["accelsearch:efficientnet-b0-phi2"]["rank"] == 2


def test_ranking_counts_same_family_pairs_and_names_the_ones_out_of_order():
    truth = {
        "a_s": {"rank": 70.0, "imagenet_top1": 70.0},
        "a_m": {"rank": 75.0, "imagenet_top1": 75.0},
        "a_l": {"rank": 80.0, "imagenet_top1": 80.0},
        "res18": {"rank": 72.0, "imagenet_top1": 72.0},
        "res50": {"rank": 78.0, "imagenet_top1": 78.0},
    }
    proxy = {"a_s": 60.0, "a_m": 65.0, "a_l": 64.0, "res18": 70.0, "res50": 71.0}
    per_model = {m: {"accuracy_mean": v, "family": pf.family_of(m)} for m, v in proxy.items()}
    out = pf._ranking(per_model, truth, "accuracy")
    assert out["within_family_pairs"] == 4  # a: 3 pairs, b: 1 pair
    assert out["pairs_out_of_order"] == [["a_m", "a_l"]]
    assert out["within_family_concordance"] == pytest.approx(0.75)
    assert out["kendall_tau_models"] == 5 and -1 <= out["kendall_tau"] <= 1


def test_model_archs_sit_at_their_own_imagenet_resolution():
    assert pf.model_arch("efficientnet_b3").resolution == 288  # timm's pretrained input size
    grown = [pf.model_arch(f"accelsearch:efficientnet-b0{s}") for s in ("", "-phi1", "-phi3")]
    assert [a.resolution for a in grown] == sorted(a.resolution for a in grown)
    assert grown[0].resolution == 224 and grown[2].num_blocks > grown[0].num_blocks
