"""course_utils.conv.signals: the signal-processing helpers of chapter 4, Part II."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from course_utils.conv import signals as conv_signal


def test_convolution_theorem_circular_and_linear():
    rng = np.random.default_rng(3)
    for shape in [(16,), (6, 7)]:
        a, b = rng.standard_normal(shape), rng.standard_normal(shape)
        np.testing.assert_allclose(conv_signal.fft_convolve(a, b, mode="circular"),
                                   conv_signal.circular_convolve_direct(a, b), atol=1e-10)
    a, b = rng.standard_normal((9, 5)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(conv_signal.fft_convolve(a, b),
                               scipy.signal.convolve2d(a, b, mode="full"), atol=1e-10)
    a1, b1 = rng.standard_normal(8), rng.standard_normal(8)
    linear = np.convolve(a1, b1)
    circular = conv_signal.fft_convolve(a1, b1, mode="circular")
    np.testing.assert_allclose(circular, linear[:8] + np.r_[linear[8:], 0.0], atol=1e-10)


def test_spectrum_orientation_follows_the_stripes():
    for angle in (0, 30, 45, 90, 135):
        img = conv_signal.stripes(64, angle, period=8)
        found, radius = conv_signal.dominant_frequency(img)
        assert abs((found - angle + 90) % 180 - 90) < 6 and radius == pytest.approx(8, abs=1)


def test_disc_lowpass_and_compression_ratio():
    img = np.random.default_rng(0).standard_normal((32, 32))
    same, ratio = conv_signal.lowpass_disc(img, radius=100)
    np.testing.assert_allclose(same, img, atol=1e-10)
    assert ratio == 1.0
    _, ratio = conv_signal.lowpass_disc(img, radius=4)
    assert ratio == pytest.approx(32 * 32 / conv_signal.disc_mask((32, 32), 4).sum())
    smooth = conv_signal.stripes(32, 0, period=16)  # 2 cycles per image: inside radius 4
    np.testing.assert_allclose(conv_signal.lowpass_disc(smooth, 4)[0], smooth, atol=1e-10)


def test_kernel_softmax_is_a_distribution():
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
    p = conv_signal.kernel_softmax(sobel)
    assert p.sum() == pytest.approx(1.0) and (p > 0).all() and p.argmax() == 5
    np.testing.assert_allclose(conv_signal.kernel_softmax(sobel + 1000.0), p)  # stable


def test_cross_correlation_is_convolution_with_the_flipped_template():
    rng = np.random.default_rng(4)
    img, t = rng.standard_normal((12, 15)), rng.standard_normal((4, 3))
    np.testing.assert_allclose(conv_signal.cross_correlate(img, t),
                               scipy.signal.correlate2d(img, t, mode="full"), atol=1e-10)


def test_match_template_finds_a_planted_patch():
    rng = np.random.default_rng(5)
    img = rng.uniform(0, 1, (60, 70))
    img[:, :20] += 5.0  # a bright region that plain correlation would favour
    patch = rng.uniform(0, 1, (7, 9))
    img[31:38, 40:49] = patch
    assert conv_signal.match_template(img, patch) == (31, 40)
    with pytest.raises(ValueError, match="must not be constant"):
        conv_signal.match_template(img, np.ones((3, 3)))


def test_ma_and_ar_models_are_convolutions():
    rng = np.random.default_rng(6)
    e = rng.standard_normal(400)
    theta, phi = [0.6, -0.3], [0.5, 0.3]
    x_ma = conv_signal.ma_process(e, theta, mu=2.0)
    loop = [2.0 + e[t] + sum(th * e[t - i - 1] for i, th in enumerate(theta) if t - i - 1 >= 0)
            for t in range(len(e))]
    np.testing.assert_allclose(x_ma, loop, atol=1e-12)
    x_ar = conv_signal.ar_process(e, phi, c=1.0)
    for t in range(2, 50):
        assert x_ar[t] == pytest.approx(1.0 + phi[0] * x_ar[t - 1] + phi[1] * x_ar[t - 2] + e[t])
    residual = x_ar - conv_signal.ar_predict(x_ar, phi, c=1.0)
    np.testing.assert_allclose(residual[2:], e[2:], atol=1e-10)
    phi_hat, c_hat = conv_signal.fit_ar(conv_signal.ar_process(
        rng.standard_normal(20000), phi, c=1.0), 2)
    np.testing.assert_allclose(phi_hat, phi, atol=0.03)
    psi = conv_signal.ar_impulse_response(phi, 200)
    np.testing.assert_allclose(np.convolve(e, psi)[:400], conv_signal.ar_process(e, phi),
                               atol=1e-8)


def test_signal_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        conv_signal.circular_convolve_direct(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="mode must be one of"):
        conv_signal.fft_convolve(np.zeros(3), np.zeros(3), mode="valid")
    with pytest.raises(TypeError, match="image must be a numpy.ndarray"):
        conv_signal.log_spectrum([[1.0]])
    with pytest.raises(ValueError, match="template .* must fit"):
        conv_signal.match_template(np.zeros((4, 4)), np.zeros((5, 2)))
