"""Part II of the convolution chapter: convolution seen from signal processing and statistics.

NumPy/SciPy helpers for the convolution theorem (circular vs linear convolution),
image spectra, the disc low-pass filter, kernels as probability distributions,
cross-correlation and template matching, and moving-average / autoregressive models
as 1-D convolutions.

FFT convention (NumPy's and SciPy's, ``norm="backward"``): the forward transform is
unnormalised and the inverse divides by the number of points, so
``a (*) b = ifft(fft(a) * fft(b))`` with no extra constant. Other conventions move a
factor 1/N or 1/sqrt(N) between the two transforms.

Definitions (standard; e.g. Smith, *The Scientist and Engineer's Guide to DSP*, 1997):
linear convolution ``(a * b)[n] = sum_m a[m] b[n - m]``; circular convolution of length
N takes ``n - m`` modulo N; cross-correlation ``(a ⋆ b)[n] = sum_m a[m + n] b[m]``, a
convolution with b reversed.

Used in: :doc:`/notebooks/conv_1_mixing`, :doc:`/notebooks/conv_2_fourier`.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.signal

from ..core.checks import (
    RealLike,
    as_real_array,
    check_array,
    check_choice,
    check_int,
    check_number,
)

__all__ = [
    "sample_image",
    "circular_convolve_direct",
    "fft_convolve",
    "log_spectrum",
    "stripes",
    "dominant_frequency",
    "disc_mask",
    "lowpass_disc",
    "kernel_softmax",
    "cross_correlate",
    "match_template",
    "ma_process",
    "ar_process",
    "ar_predict",
    "fit_ar",
    "ar_impulse_response",
]


def _real_array(name: str, value: object, ndims: tuple[int, ...] = (1, 2)) -> np.ndarray:
    check_array(name, value)
    if value.ndim not in ndims:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndims))} dimensions, "
                         f"got shape {value.shape}")
    if not np.issubdtype(value.dtype, np.floating) and not np.issubdtype(value.dtype, np.integer):
        raise TypeError(f"{name} must be a real (float or int) array, got {value.dtype}")
    if value.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.isfinite(value).all():
        raise ValueError(f"{name} must be finite: it holds "
                         f"{np.count_nonzero(~np.isfinite(value))} NaN or infinite values")
    return np.asarray(value, dtype=np.float64)


def _ar_coefficients(phi: RealLike) -> np.ndarray:
    """``phi`` as a 1-D float array of a *stationary* AR model, or a ValueError.

    Stationary: every root of ``z^p - phi_1 z^(p-1) - ... - phi_p`` lies inside the unit
    circle. Otherwise the recursion grows without bound (``phi = [2]`` doubles each step).
    """
    phi = as_real_array("phi", phi)
    if phi.ndim > 1 or phi.size == 0:
        raise ValueError(f"phi must be a number or a 1-D sequence of them, got shape {phi.shape}")
    phi = np.atleast_1d(phi)
    largest = float(np.max(np.abs(np.roots(np.concatenate([[1.0], -phi]))), initial=0.0))
    if largest >= 1.0:
        raise ValueError("phi must describe a stationary AR process (every root of z^p - "
                         f"phi_1 z^(p-1) - ... - phi_p inside the unit circle), got largest "
                         f"|root| = {largest:.3g}")
    return phi


def sample_image() -> np.ndarray:
    """Grace Hopper's portrait from matplotlib's sample data, as a 256 x 256 float32
    grayscale image with values in [0, 1] (top 512 x 512 pixels, channel mean,
    2 x 2 averaged). Ships with matplotlib: no download."""
    import matplotlib.cbook as cbook
    import matplotlib.pyplot as plt

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        rgb = plt.imread(f)
    gray = rgb[:512, :512].astype(np.float32).mean(axis=2) / 255.0
    return gray.reshape(256, 2, 256, 2).mean(axis=(1, 3)).astype(np.float32)


# --------------------------------------------------------------------------- theorem
def circular_convolve_direct(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Circular convolution by its definition, ``y[n] = sum_m a[m] b[(n - m) mod N]``.

    ``a`` and ``b`` have the same shape (1-D or 2-D). O(N^2) work: for small arrays,
    to check :func:`fft_convolve` against.
    """
    a, b = _real_array("a", a), _real_array("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    out = np.zeros_like(a)
    for m in np.ndindex(a.shape):
        out += a[m] * np.roll(b, m, axis=tuple(range(a.ndim)))  # b[(n - m) mod N]
    return out


def fft_convolve(a: np.ndarray, b: np.ndarray, *, mode: str = "linear") -> np.ndarray:
    """Convolution through the convolution theorem, ``ifft(fft(a) * fft(b))``.

    ``mode="circular"``: transforms of the arrays' own (equal) shape, giving circular
    convolution. ``mode="linear"``: both zero-padded to ``a.shape + b.shape - 1`` first,
    which gives the full linear convolution (as ``scipy.signal.convolve``).
    """
    mode = check_choice("mode", mode, ("linear", "circular"))
    a, b = _real_array("a", a), _real_array("b", b)
    if a.ndim != b.ndim:
        raise ValueError(f"a and b must have the same number of dimensions, "
                         f"got {a.ndim} and {b.ndim}")
    if mode == "circular":
        if a.shape != b.shape:
            raise ValueError(f"circular convolution needs equal shapes, got {a.shape}, {b.shape}")
        shape = a.shape
    else:
        shape = tuple(n + k - 1 for n, k in zip(a.shape, b.shape, strict=True))
    axes = tuple(range(a.ndim))
    spectrum = scipy.fft.rfftn(a, shape, axes=axes) * scipy.fft.rfftn(b, shape, axes=axes)
    return scipy.fft.irfftn(spectrum, shape, axes=axes)


# --------------------------------------------------------------------------- spectra
def log_spectrum(image: np.ndarray) -> np.ndarray:
    """``log(1 + |F|)`` of the 2-D DFT, zero frequency moved to the centre (fftshift)."""
    image = _real_array("image", image, (2,))
    return np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(image))))


def stripes(size: int, angle_deg: float, period: float) -> np.ndarray:
    """A ``size`` x ``size`` image of sinusoidal stripes.

    Intensity ``cos(2 pi (x cos a + y sin a) / period)`` changes along direction
    ``angle_deg`` (degrees from the x axis, y pointing down the rows); ``period`` in pixels.
    """
    size = check_int("size", size, minimum=2)
    angle = np.deg2rad(check_number("angle_deg", angle_deg))
    period = check_number("period", period, minimum=2.0)
    y, x = np.mgrid[0:size, 0:size]
    return np.cos(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period)


def dominant_frequency(image: np.ndarray) -> tuple[float, float]:
    """(angle in degrees in [0, 180), radius in cycles per image) of the brightest
    non-zero frequency of ``image`` minus its mean: the direction along which its
    intensity changes fastest."""
    image = _real_array("image", image, (2,))
    spec = np.abs(np.fft.fft2(image - image.mean()))
    h, w = spec.shape
    u, v = np.unravel_index(np.argmax(spec), spec.shape)  # row (y) and column (x) freq
    fy = u - h if u > h // 2 else u
    fx = v - w if v > w // 2 else v
    return float(np.rad2deg(np.arctan2(fy, fx)) % 180.0), float(np.hypot(fx, fy))


def disc_mask(shape: tuple[int, int], radius: float) -> np.ndarray:
    """Boolean mask, true inside a disc of ``radius`` (frequency bins) around the centre
    of a fftshift-ed spectrum of ``shape``."""
    if len(shape) != 2:
        raise ValueError(f"shape must be (rows, cols), got {shape!r}")
    h = check_int("shape[0]", shape[0], minimum=1)
    w = check_int("shape[1]", shape[1], minimum=1)
    radius = check_number("radius", radius, minimum=0.0)
    y, x = np.ogrid[0:h, 0:w]
    return (y - h // 2) ** 2 + (x - w // 2) ** 2 <= radius**2


def lowpass_disc(image: np.ndarray, radius: float) -> tuple[np.ndarray, float]:
    """Keep the frequencies inside a disc of ``radius`` bins, zero the rest.

    Returns ``(filtered image, compression ratio)``, the ratio being all Fourier
    coefficients over those kept (disc area): how much smaller the kept spectrum is.
    """
    image = _real_array("image", image, (2,))
    mask = disc_mask(image.shape, radius)
    kept = int(mask.sum())
    if kept == 0:
        raise ValueError(f"radius={radius} keeps no frequency; use radius >= 0 (keeps DC)")
    spectrum = np.fft.fftshift(np.fft.fft2(image))
    filtered = np.fft.ifft2(np.fft.ifftshift(spectrum * mask)).real
    return filtered, image.size / kept


def kernel_softmax(kernel: np.ndarray) -> np.ndarray:
    """``exp(k_ij) / sum exp(k)``, computed as ``exp(k - max k)`` for stability.

    The result is non-negative and sums to 1: a probability distribution over the
    kernel's offsets (how much of each neighbour flows into the centre).
    """
    k = _real_array("kernel", kernel)
    e = np.exp(k - k.max())
    return e / e.sum()


# --------------------------------------------------------------------------- correlation
def cross_correlate(image: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Full 2-D cross-correlation as a convolution with the template rotated 180°.

    Output (H + h - 1, W + w - 1); entry (i, j) is the match score with the template's
    bottom-right corner at image pixel (i, j).
    """
    image = _real_array("image", image, (2,))
    template = _real_array("template", template, (2,))
    return fft_convolve(image, template[::-1, ::-1])


def match_template(image: np.ndarray, template: np.ndarray) -> tuple[int, int]:
    """(row, col) of the top-left corner where ``template`` best matches ``image``.

    Score: normalised cross-correlation (zero-mean template, divided by the template's
    and each window's standard deviations), so a bright region does not win just for
    being bright. Sums over windows are computed as correlations via FFT.
    """
    image = _real_array("image", image, (2,))
    template = _real_array("template", template, (2,))
    th, tw = template.shape
    if th > image.shape[0] or tw > image.shape[1]:
        raise ValueError(f"template {template.shape} must fit inside image {image.shape}")
    t = template - template.mean()
    t_norm = np.sqrt((t**2).sum())
    if t_norm == 0:
        raise ValueError("template must not be constant")
    valid = (slice(th - 1, image.shape[0]), slice(tw - 1, image.shape[1]))
    score = cross_correlate(image, t)[valid]
    ones = np.ones_like(template)
    s1 = cross_correlate(image, ones)[valid]  # window sums
    s2 = cross_correlate(image**2, ones)[valid]
    window_var = np.maximum(s2 - s1**2 / template.size, 1e-12)
    ncc = score / (np.sqrt(window_var) * t_norm)
    row, col = np.unravel_index(np.argmax(ncc), ncc.shape)
    return int(row), int(col)


# --------------------------------------------------------------------------- time series
def ma_process(noise: np.ndarray, theta, mu: float = 0.0) -> np.ndarray:
    """MA(q): ``X_t = mu + e_t + sum_i theta_i e_{t-i}``, a causal 1-D convolution of the
    noise with the kernel (1, theta_1, ..., theta_q) (terms before t = 0 are zero)."""
    noise = _real_array("noise", noise, (1,))
    theta = as_real_array("theta", theta)
    if theta.ndim > 1:
        raise ValueError("theta must be a number or a 1-D sequence of them, "
                         f"got shape {theta.shape}")
    kernel = np.concatenate([[1.0], np.atleast_1d(theta)])
    return check_number("mu", mu) + np.convolve(noise, kernel)[: noise.size]


def ar_process(noise: np.ndarray, phi: RealLike, c: float = 0.0) -> np.ndarray:
    """AR(p): ``X_t = c + sum_i phi_i X_{t-i} + e_t``, started from zeros.

    A recursive (infinite impulse response) filter: ``scipy.signal.lfilter([1],
    [1, -phi_1, ..., -phi_p], c + e)``.
    """
    noise = _real_array("noise", noise, (1,))
    phi = _ar_coefficients(phi)
    return scipy.signal.lfilter([1.0], np.concatenate([[1.0], -phi]), check_number("c", c) + noise)


def ar_predict(x: np.ndarray, phi: RealLike, c: float = 0.0) -> np.ndarray:
    """One-step predictions ``c + sum_i phi_i x_{t-i}``: a causal convolution of the past
    with the kernel (0, phi_1, ..., phi_p); the first p use zeros for missing values."""
    x = _real_array("x", x, (1,))
    phi = as_real_array("phi", phi)
    if phi.ndim > 1 or phi.size == 0:
        raise ValueError(f"phi must be a number or a 1-D sequence of them, got shape {phi.shape}")
    phi = np.atleast_1d(phi)
    return check_number("c", c) + np.convolve(x, np.concatenate([[0.0], phi]))[: x.size]


def fit_ar(x: np.ndarray, p: int) -> tuple[np.ndarray, float]:
    """Least-squares AR(p) fit: the 1-D kernel (phi_1..phi_p) and constant c that best
    predict ``x_t`` from ``x_{t-1} .. x_{t-p}``. Returns ``(phi, c)``."""
    x = _real_array("x", x, (1,))
    p = check_int("p", p, minimum=1, maximum=max(1, x.size // 2))
    lags = np.column_stack([x[p - i : x.size - i] for i in range(1, p + 1)])
    design = np.column_stack([lags, np.ones(len(lags))])
    coef, _, rank, _ = np.linalg.lstsq(design, x[p:], rcond=None)
    if rank < p + 1:
        raise ValueError(f"x does not determine an AR({p}) fit: its lagged values are linearly "
                         "dependent (a constant or too regular series); use a varying series "
                         "or a smaller p")
    return coef[:p], float(coef[p])


def ar_impulse_response(phi: RealLike, n: int) -> np.ndarray:
    """First ``n`` weights psi of ``X_t = sum_j psi_j e_{t-j}`` (the AR model written as
    an infinitely long moving average, i.e. one long convolution kernel)."""
    n = check_int("n", n, minimum=1)
    impulse = np.zeros(n)
    impulse[0] = 1.0
    return ar_process(impulse, phi)
