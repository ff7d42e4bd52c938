"""GPUNet: Table 1 ranges, the 41-integer encoding, and the published GPUNet-0/1/2 sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from accelsearch import spaces
from accelsearch.core.accounting import model_cost
from accelsearch.core.errors import ArchError, ConfigError
from accelsearch.spaces import gpunet


def test_table_1_ranges():
    p = spaces.get("gpunet").params()
    assert p["resolution"].values() == tuple(range(224, 513, 32))
    assert p["s0_filters"].values() == (24, 32)
    assert p["s0_kernel"].values() == (3, 5) and p["s0_act"].values() == ("relu", "swish")
    assert p["s1_layers"].values() == (1, 2, 3, 4)
    layers = {i: p[f"s{i}_layers"].values() for i in range(2, 8)}
    assert layers == {
        2: tuple(range(1, 9)),
        3: tuple(range(1, 9)),
        4: tuple(range(1, 11)),
        5: tuple(range(0, 16)),
        6: tuple(range(1, 16)),
        7: tuple(range(0, 16)),
    }
    filters = {i: p[f"s{i}_filters"].values() for i in range(2, 8)}
    assert filters == {
        2: tuple(range(32, 81, 16)),
        3: tuple(range(48, 113, 16)),
        4: tuple(range(96, 193, 16)),
        5: tuple(range(112, 225, 16)),
        6: tuple(range(128, 417, 32)),
        7: tuple(range(256, 833, 64)),
    }
    for i in range(2, 8):
        assert p[f"s{i}_expansion"].values() == (2, 3, 4, 5, 6)
        assert p[f"s{i}_se"].values() == (0, 1)
        assert p[f"s{i}_kernel"].values() == (3, 5)
    assert len(p) == len(gpunet.VECTOR_LAYOUT) == 41


def test_decoded_structure():
    space = spaces.get("gpunet")
    arch = space.sample_arch(3)
    assert [st.type for st in arch.stages] == ["conv", "fused", "fused"] + ["mbconv"] * 4
    assert [st.stride for st in arch.stages] == [1, 2, 2, 2, 1, 2, 1]
    assert arch.stem.stride == 2 and arch.head.width == 1792
    assert arch.resolution % space.resolution_multiple == 0
    assert space.resolution_multiple == 32
    assert all(st.se in (0.0, 0.25) for st in arch.stages)


def test_encode_decode_and_vector_round_trips():
    space = spaces.get("gpunet")
    rng = np.random.default_rng(0)
    for _ in range(50):
        params = space.sample(rng)
        arch = space.decode(params)
        assert space.encode(arch) == params
        vec = space.encode_vector(arch)
        assert len(vec) == 41 and all(isinstance(v, int) for v in vec)
        assert space.decode_vector(vec) == arch
    # the layout: resolution first, acts as 0/1
    vec = space.params_to_vector({**params, "resolution": 320, "s0_act": "swish"})
    assert vec[0] == 320 and vec[3] == 1


def test_size_counts_distinct_networks():
    space = spaces.get("gpunet")
    assert 20 < space.log10_size() < 30  # about 10^23.5 networks
    tiny = spaces.get("gpunet", resolutions=(224,), width_mult=0.1, max_layers=1)
    # exact count: only layers 0 or 1; stages 5 and 7 with 0 layers hide their choices
    p = tiny.params()
    per_stage = {
        i: np.prod(
            [len(p[f"s{i}_{f}"].values()) for f in ("filters", "kernel", "expansion", "act", "se")]
        )
        for i in range(2, 8)
    }
    head = len(p["s0_filters"].values()) * 2 * 2 * 1
    expected = head * np.prod([per_stage[i] + (1 if i in (5, 7) else 0) for i in range(2, 8)])
    assert tiny.size() == pytest.approx(float(expected))


def test_random_archs_build_and_run():
    space = spaces.get("gpunet", resolutions=(64,), width_mult=0.25, max_layers=2)
    rng = np.random.default_rng(1)
    x = torch.randn(1, 3, 64, 64)
    for _ in range(50):
        params = space.sample(rng)
        arch = space.decode(params)
        assert space.decode_vector(space.params_to_vector(params)) == arch
        with torch.no_grad():
            out = space.build(arch, num_classes=10).eval()(x)
        assert out.shape == (1, 10)


@pytest.mark.parametrize(
    "name, params_m, gmacs",
    [("gpunet-0", 11.89, 3.31), ("gpunet-1", 12.70, 3.38), ("gpunet-2", 25.80, 8.71)],
)
def test_references_match_published_sizes(name, params_m, gmacs):
    space = spaces.get("gpunet")
    arch = space.reference(name)
    cost = model_cost(space.build(arch), arch.resolution)
    assert cost.params / 1e6 == pytest.approx(params_m, abs=0.005)
    assert cost.macs / 1e9 == pytest.approx(gmacs, abs=0.005)
    published_params, published_macs = gpunet.PUBLISHED[name]
    assert cost.params == pytest.approx(published_params, rel=0.03)
    assert cost.macs == pytest.approx(published_macs, rel=0.10)


def test_references_are_archs_outside_the_space():
    space = spaces.get("gpunet")
    with pytest.raises(ArchError, match="not a point"):
        space.encode(space.reference("gpunet-0"))  # stage 4 has 256 filters, tail 1280


def test_reference_data_matches_nvidia_layer_lists(shared_data):
    """The transcription in gpunet.REFERENCES equals NVIDIA's JSON layer lists."""
    files = {"gpunet-0": "0.65ms.json", "gpunet-1": "0.85ms.json", "gpunet-2": "1.75ms.json"}
    types = {"conv": "conv", "fused_irb": "fused", "irb": "mbconv"}
    for name, fname in files.items():
        path = shared_data / "gpunet" / fname
        if not path.exists():
            pytest.skip(f"{path} is absent")
        layers = json.loads(path.read_text())
        arch = spaces.get("gpunet").reference(name)
        assert arch.resolution == layers[0]["img_resolution"]
        assert arch.stem.width == layers[1]["num_out_channels"]
        assert arch.head.width == layers[-1]["num_out_channels"]
        expanded = []  # the arch's blocks, one per layer, as (type, in, out, stride, k, e, act, se)
        chs = arch.stem.width
        for st in arch.stages:
            for j in range(st.depth):
                expanded.append(
                    (
                        st.type,
                        chs,
                        st.width,
                        st.stride if j == 0 else 1,
                        st.kernel,
                        st.expansion,
                        st.act,
                        bool(st.se),
                    )
                )
                chs = st.width
        listed = [
            (
                types[lay["layer_type"]],
                lay["num_in_channels"],
                lay["num_out_channels"],
                lay["stride"],
                lay["kernel_size"],
                float(lay.get("expansion", 1)),
                lay["act"],
                bool(lay.get("use_se", False)),
            )
            for lay in layers[2:-1]
        ]
        assert expanded == listed


def test_bad_vectors_and_resolutions_name_the_field():
    space = spaces.get("gpunet")
    vec = space.encode_vector(space.sample_arch(0))
    with pytest.raises(ConfigError, match="41 integers"):
        space.decode_vector(vec[:-1])
    bad = list(vec)
    bad[gpunet.VECTOR_LAYOUT.index("s4_filters")] = 100
    with pytest.raises(ConfigError, match="s4_filters"):
        space.decode_vector(bad)
    bad = list(vec)
    bad[gpunet.VECTOR_LAYOUT.index("s6_act")] = 2
    with pytest.raises(ConfigError, match="s6_act"):
        space.decode_vector(bad)
    with pytest.raises(
        ArchError, match=r"'resolution' is 240: breaks ResolutionMultiple\(32\); use e.g. 256"
    ):
        space.build(space.sample_arch(0).replace(resolution=240))
    with pytest.raises(ConfigError, match="multiples of 32"):
        spaces.get("gpunet", resolutions=(200,))
