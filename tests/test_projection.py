"""The principal-component projection folded into the network as a 1x1 convolution."""

import numpy as np
import pytest

from vadtool.errors import ModelError
from vadtool.models.projection import component_scales, fit_projection, fold_into_network, project


def test_projection_keeps_the_top_components_and_the_folded_conv_computes_it():
    from vadtool.tfenv import keras
    rng = np.random.default_rng(0)
    inp = keras.Input((6, 6, 3))
    net = keras.Model(inp, keras.layers.Conv2D(10, 3, padding="same")(inp))
    x = rng.normal(size=(8, 6, 6, 3)).astype(np.float32)
    feats = np.asarray(net(x))
    matrix, bias = fit_projection(feats, 4, whiten=False)
    p = project(feats, matrix, bias)
    assert p.shape == (8, 6, 6, 4)
    np.testing.assert_allclose(p.reshape(-1, 4).mean(0), 0, atol=1e-4)  # centred
    var = p.reshape(-1, 4).var(0)
    assert (np.diff(var) <= 1e-6).all()  # ordered by variance
    white = project(feats, *fit_projection(feats, 4)).reshape(-1, 4)
    np.testing.assert_allclose(np.cov(white, rowvar=False), np.eye(4), atol=1e-3)
    flat = p.reshape(-1, 4)
    np.testing.assert_allclose(white, flat / flat.std(0, ddof=1), rtol=1e-3, atol=1e-3)
    # quantize compares int8 and float features unwhitened: the scales undo the whitening
    whitened_net = fold_into_network(net, *fit_projection(feats, 4))
    np.testing.assert_allclose(component_scales(whitened_net), flat.std(0, ddof=1), rtol=1e-3)
    np.testing.assert_allclose(component_scales(fold_into_network(net, matrix, bias)), 1, rtol=1e-5)
    assert component_scales(net) is None
    folded = fold_into_network(net, matrix, bias)
    np.testing.assert_allclose(np.asarray(folded(x)), p, rtol=1e-4, atol=1e-4)
    assert folded.output.shape[-1] == 4


def test_projection_refuses_impossible_dimensions():
    feats = np.random.default_rng(0).normal(size=(2, 2, 2, 8))
    with pytest.raises(ModelError, match="1..7"):
        fit_projection(feats, 8)
    with pytest.raises(ModelError, match="at least 6 normal cells"):
        fit_projection(feats[:1, :1, :1], 6)
