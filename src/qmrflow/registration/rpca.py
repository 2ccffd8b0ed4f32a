"""Robust PCA by the inexact augmented Lagrange multiplier method, and the RPCA reference series.

Robust PCA (principal component pursuit) splits a matrix ``M`` into a low-rank part ``L`` and a
sparse part ``S``::

    minimise ||L||_* + lam ||S||_1  subject to  L + S = M.

It is solved by the inexact augmented Lagrange multiplier (IALM) method of Lin, Chen & Ma, "The
augmented Lagrange multiplier method for exact recovery of corrupted low-rank matrices"
(arXiv:1009.5055, 2010), Algorithm 5: alternate singular-value thresholding for ``L`` and
soft thresholding for ``S``, update the multiplier ``Y`` and grow the penalty ``mu``.

For a dynamic perfusion slice the matrix is the Casorati matrix (pixels x frames). Its low-rank
part keeps the slowly varying contrast dynamics; respiratory motion, which is not low rank, goes
mostly to the sparse part. Scannell et al., "Robust non-rigid motion compensation of
free-breathing myocardial perfusion MRI data" (IEEE TMI 2019), register each frame to the
low-rank frame of the same time point: a motion-free synthetic reference series of the same
contrast (:func:`rpca_reference`). Their refinement stage builds the synthetic series by plain
PCA instead (a truncated SVD of the same matrix, :func:`pca_reference`), after Melbourne et al.,
"Registration of dynamic contrast-enhanced MRI using a progressive principal component
registration (PPCR)" (Phys Med Biol 2007). The outer loop that alternates the two with the
registration is :func:`qmrflow.registration.iterative.correct_series_iterative`.

Robust PCA references and first-pass perfusion (measured on the study's demo: 64 x 64, 40
frames, SNR 20). An entry of ``S`` costs ``lam`` per unit and a rank-one pattern its singular
value, so a pattern of support ``N`` entries goes to ``S`` when ``lam < 1 / sqrt(N)``. The
first-pass bolus (a few hundred ventricle pixels bright for ~8 frames) goes to the sparse part
for ``lam`` below ~1.3 ``lam_0`` (``lam_0 = 1 / sqrt(max(m, n))``), with part of the motion:
the low-rank frames lose the bolus contrast, and even for *perfectly* aligned frames
registering to them left 0.46-0.49 voxel of error (vs 0.14 to 5 principal components), with
failures at the bolus frames. Above ~0.95 ``lam_0`` the low-rank part keeps the noise and the
motion (rank 30 of 40 at ``lam_0``, 40 at 1.2 ``lam_0``). Plain PCA of a roughly aligned series
keeps the bolus (it is the largest variance) and drops most residual motion.

Why hand-written: the algorithm is ~20 lines of numpy and the data are small (4096 x 40 for the
demo; one thin SVD per iteration is the cost). Of the Python packages on PyPI, ``rpca`` solves a
different (non-convex, rank-given) problem and ``pyrpca`` (1.0.1, one 85-line module) implements
the same IALM but prints every iteration and reports neither iteration count nor convergence; no
other maintained candidate turned up. Writing it here keeps the defaults, the stopping rule and
the diagnostics explicit and tested.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from threadpoolctl import threadpool_limits  # a scikit-learn dependency

__all__ = [
    "RobustPCA",
    "default_lambda",
    "pca_reference",
    "robust_pca",
    "rpca_reference",
    "synthetic_series",
]

log = logging.getLogger(__name__)

#: ``mu_max = MU_MAX_FACTOR * mu0``, the bound of Lin et al.'s reference implementation.
MU_MAX_FACTOR = 1e7


@dataclass(frozen=True, eq=False)
class RobustPCA:
    """The result of :func:`robust_pca`.

    Attributes
    ----------
    low_rank, sparse
        ``L`` and ``S`` (float64, the shape of ``M``).
    iterations
        IALM iterations run.
    converged
        Whether the relative residual fell below ``tol`` within ``max_iterations``.
    rank
        Rank of ``low_rank`` (singular values left after the last thresholding).
    residual
        Final relative residual ``||M - L - S||_F / ||M||_F``.
    """

    low_rank: np.ndarray
    sparse: np.ndarray
    iterations: int
    converged: bool
    rank: int
    residual: float


def default_lambda(shape: tuple[int, int]) -> float:
    """``1 / sqrt(max(m, n))``, the weight of Candès et al. (2011) for an ``(m, n)`` matrix."""
    return 1.0 / float(np.sqrt(max(shape)))


def _check_positive(name: str, value: float | None) -> None:
    if value is not None and not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def robust_pca(
    M: ArrayLike,
    *,
    lam: float | None = None,
    mu: float | None = None,
    rho: float = 1.6,
    tol: float = 1e-7,
    max_iterations: int = 500,
    blas_threads: int | None = 1,
) -> RobustPCA:
    """Split ``M`` into low-rank plus sparse parts by inexact ALM (Lin et al. 2010, Alg. 5).

    Parameters
    ----------
    M
        ``(m, n)`` matrix, e.g. a Casorati matrix (pixels x frames). Computed in float64.
    lam
        Weight of the l1 term; default ``1 / sqrt(max(m, n))`` (Candès et al. 2011, Lin et al.).
    mu
        Initial penalty ``mu0``; default ``1.25 / ||M||_2`` as in Lin et al.'s experiments (the
        study spec quotes ``1 / ||M||_2``; the factor only changes the iteration count a
        little). ``mu_{k+1} = min(rho mu_k, 1e7 mu0)``.
    rho
        Growth factor of ``mu`` (> 1); Lin et al. use 1.6.
    tol
        Stop when ``||M - L - S||_F / ||M||_F < tol``.
    max_iterations
        At most this many iterations (``converged`` is False if reached first).
    blas_threads
        BLAS threads for the SVDs (``None``: leave the pool as it is). A thin SVD of a
        pixels x frames matrix gains nothing from threads and, on shared cores, an
        oversubscribed BLAS pool made it 20x slower (0.5 s vs 10 s for 4096 x 40), hence 1.

    Returns
    -------
    RobustPCA
    """
    D = np.asarray(M, dtype=float)
    if D.ndim != 2:
        raise ValueError(f"M must be a 2-D matrix, got shape {D.shape}")
    if D.size == 0:
        raise ValueError(f"M must not be empty, got shape {D.shape}")
    if not np.all(np.isfinite(D)):
        raise ValueError("M must be finite (it contains NaN or inf)")
    _check_positive("lam", lam)
    _check_positive("mu", mu)
    _check_positive("tol", tol)
    if not (np.isfinite(rho) and rho > 1):
        raise ValueError(f"rho must be > 1, got {rho!r}")
    if int(max_iterations) < 1:
        raise ValueError(f"max_iterations must be >= 1, got {max_iterations!r}")
    if blas_threads is not None and int(blas_threads) < 1:
        raise ValueError(f"blas_threads must be >= 1 or None, got {blas_threads!r}")

    m, n = D.shape
    lam = default_lambda((m, n)) if lam is None else float(lam)
    norm_fro = np.linalg.norm(D)
    if norm_fro == 0.0:
        zero = np.zeros_like(D)
        return RobustPCA(zero, zero.copy(), 0, True, 0, 0.0)
    norm_two = np.linalg.norm(D, ord=2)
    mu = 1.25 / norm_two if mu is None else float(mu)
    mu_max = MU_MAX_FACTOR * mu

    # Y0 = D / J(D), J(D) = max(||D||_2, ||D||_inf / lam): the dual-feasible start of Alg. 5.
    Y = D / max(norm_two, np.abs(D).max() / lam)
    S = np.zeros_like(D)
    L = np.zeros_like(D)
    residual = np.inf
    rank = 0
    iterations = 0
    with threadpool_limits(blas_threads):
        while iterations < int(max_iterations):
            iterations += 1
            U, sv, Vt = np.linalg.svd(D - S + Y / mu, full_matrices=False)
            shrunk = sv - 1.0 / mu  # singular-value thresholding at 1 / mu
            rank = int(np.count_nonzero(shrunk > 0))
            L = (U[:, :rank] * shrunk[:rank]) @ Vt[:rank]
            T = D - L + Y / mu  # soft thresholding at lam / mu
            S = np.sign(T) * np.maximum(np.abs(T) - lam / mu, 0.0)
            Z = D - L - S
            residual = float(np.linalg.norm(Z) / norm_fro)
            if residual < tol:
                break
            Y += mu * Z
            mu = min(rho * mu, mu_max)
    converged = residual < tol
    log.debug(
        "robust PCA %s: %d iterations, rank %d, residual %.2e",
        "converged" if converged else "did not converge",
        iterations,
        rank,
        residual,
    )
    return RobustPCA(L, S, iterations, converged, rank, residual)


def _casorati(frames: ArrayLike) -> np.ndarray:
    """The ``(T, X, Y)`` frames as a finite float64 matrix, one row per frame (``(T, X*Y)``)."""
    stack = np.asarray(frames, dtype=float)
    if stack.ndim != 3:
        raise ValueError(f"frames must be (T, X, Y), got shape {stack.shape}")
    if not np.all(np.isfinite(stack)):
        raise ValueError("frames must be finite (they contain NaN or inf)")
    return stack.reshape(stack.shape[0], -1)


def pca_reference(frames: ArrayLike, components: int) -> np.ndarray:
    """A synthetic series from the first principal components of the frames (truncated SVD).

    Plain PCA keeps the components of largest variance, and in a roughly aligned first-pass
    series these are the contrast dynamics (the bolus in the ventricles, the myocardial
    enhancement), which robust PCA at a small ``lam`` sends to the sparse part with the motion.
    Residual misalignment is of small variance and falls in the later components. The Casorati
    matrix is not mean-centred: its first component is the mean image times the mean curve.

    Parameters
    ----------
    frames
        ``(T, X, Y)`` dynamic series of one slice.
    components
        Number of components kept (``1 <= components <= T``).

    Returns
    -------
    numpy.ndarray
        ``(T, X, Y)`` float32: the rank-``components`` least-squares approximation.
    """
    matrix = _casorati(frames)
    if int(components) != components or not 1 <= components <= matrix.shape[0]:
        raise ValueError(
            f"components must be an integer in [1, {matrix.shape[0]}], got {components!r}"
        )
    k = int(components)
    with threadpool_limits(1):
        U, sv, Vt = np.linalg.svd(matrix, full_matrices=False)
    return ((U[:, :k] * sv[:k]) @ Vt[:k]).reshape(np.shape(frames)).astype(np.float32)


def rpca_reference(frames: ArrayLike, **options: float) -> np.ndarray:
    """The motion-free synthetic reference series: the low-rank part of the frames.

    Parameters
    ----------
    frames
        ``(T, X, Y)`` dynamic series of one slice.
    **options
        Passed to :func:`robust_pca` (``lam``, ``mu``, ``rho``, ``tol``, ``max_iterations``).

    Returns
    -------
    numpy.ndarray
        ``(T, X, Y)`` float32: frame ``t`` of the low-rank part of the Casorati matrix.
    """
    casorati = _casorati(frames).T  # pixels x frames
    result = robust_pca(casorati, **options)
    if not result.converged:
        log.warning(
            "robust PCA of the reference did not converge in %d iterations (residual %.2e)",
            result.iterations,
            result.residual,
        )
    return result.low_rank.T.reshape(np.shape(frames)).astype(np.float32)


def synthetic_series(
    frames: ArrayLike, stage: Literal["rpca", "pca"], parameter: float
) -> tuple[np.ndarray, int]:
    """A synthetic reference series for registration, and its rank.

    Parameters
    ----------
    frames
        ``(T, X, Y)`` dynamic series of one slice.
    stage
        ``"rpca"``: the robust-PCA low-rank part with ``lam = parameter``, each frame scaled
        by its least-squares gain onto the input frame (the nuclear-norm shrinkage darkens the
        low-rank frames, and a mean-squares metric needs the frame's scale). ``"pca"``:
        :func:`pca_reference` with ``parameter`` components.
    parameter
        ``lam`` (absolute) or the number of components.

    Returns
    -------
    series, rank
        ``(T, X, Y)`` float64 series and its rank.
    """
    if stage == "pca":
        return pca_reference(frames, int(parameter)).astype(float), int(parameter)
    if stage != "rpca":
        raise ValueError(f"stage must be 'rpca' or 'pca', got {stage!r}")
    series = _casorati(frames)
    result = robust_pca(series.T, lam=parameter)
    if not result.converged:
        log.warning("robust PCA did not converge (residual %.2e)", result.residual)
    low_rank = result.low_rank.T
    gain = np.einsum("ti,ti->t", low_rank, series) / np.maximum(
        np.einsum("ti,ti->t", low_rank, low_rank), np.finfo(float).tiny
    )
    return (low_rank * gain[:, None]).reshape(np.shape(frames)), result.rank
