"""Rendering one thigh of one slice: skin, subcutaneous fat, muscles with fat texture, femur."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from qmrflow.simulate.fields import periodic_field
from qmrflow.studies.dystrophy.simulate.labels import (
    _LAB_CORTEX,
    _LAB_FASCIA,
    _LAB_IMFAT,
    _LAB_MARROW,
    _LAB_NV,
    _LAB_SKIN,
    _LAB_SUBCUT,
    MUSCLES,
)
from qmrflow.studies.dystrophy.simulate.legs import (
    _SEED_MID,
    _SEED_SLOPE,
    _WEIGHT_MID,
    _WEIGHT_SLOPE,
    _Leg,
    _outline,
)


def _bilinear(grid: np.ndarray, ci: np.ndarray, cj: np.ndarray, wrap: bool) -> np.ndarray:
    """Sample a 2D grid at fractional indices by bilinear interpolation.

    ``wrap`` treats the grid as periodic; otherwise indices are clamped to the grid.
    """
    n0, n1 = grid.shape
    if not wrap:
        ci = np.clip(ci, 0, n0 - 1.001)
        cj = np.clip(cj, 0, n1 - 1.001)
    fi, fj = np.floor(ci), np.floor(cj)
    wi, wj = (ci - fi).astype(np.float32), (cj - fj).astype(np.float32)
    i0, j0 = fi.astype(np.intp) % n0, fj.astype(np.intp) % n1
    i1, j1 = (i0 + 1) % n0, (j0 + 1) % n1
    top = grid[i0, j0] * (1 - wj) + grid[i0, j1] * wj
    bottom = grid[i1, j0] * (1 - wj) + grid[i1, j1] * wj
    return top * (1 - wi) + bottom * wi


@dataclass
class _Textures:
    """Periodic random fields of one case; each slice and leg reads them at its own offset."""

    fine: np.ndarray
    blobs: np.ndarray
    patches: np.ndarray
    streaks: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, pattern: str, size: int = 256) -> _Textures:
        patch_sigma = 4.0 if pattern == "patchy" else 2.5
        return cls(
            fine=periodic_field(rng, (size, size), 0.8),
            blobs=periodic_field(rng, (size, size), 2.0),
            patches=periodic_field(rng, (size, size), patch_sigma),
            streaks=periodic_field(rng, (64, 64), (3.0, 0.7)),
        )


@dataclass
class _Box:
    """One thigh's pixel box: origin, leg-frame coordinates and outline radii (mm)."""

    origin: tuple[int, int]
    u: np.ndarray  # medial (mm)
    v: np.ndarray  # anterior (mm)
    rho: np.ndarray
    r_skin: np.ndarray
    r_m: np.ndarray  # muscle-compartment radius in each pixel's direction
    r_comp: float  # compartment radius at this slice (tapered)
    fat: float  # subcutaneous fat thickness at this slice (tapered)
    r_skin_base: float


def _leg_box(
    leg: _Leg, t: float, centre: tuple[float, float], spacing: tuple[float, float]
) -> _Box:
    """The pixel box holding one thigh at slice position ``t`` and its leg-frame coordinates."""
    dx, dy = spacing
    taper = 1.0 - 0.4 * (t - 0.5)
    r_comp = leg.r_comp * taper
    fat = leg.fat * taper
    r_skin_base = r_comp + fat + leg.skin
    extent = r_skin_base * max(leg.aspect, 1 / leg.aspect) * (1 + np.abs(leg.fourier[:, 0]).sum())
    half_i = math.ceil(extent * 1.05 / dx) + 2
    half_j = math.ceil(extent * 1.05 / dy) + 2
    ci, cj = centre
    i0, j0 = math.floor(ci) - half_i, math.floor(cj) - half_j
    x = (np.arange(i0, i0 + 2 * half_i + 1, dtype=np.float32) - np.float32(ci)) * np.float32(dx)
    y = (np.arange(j0, j0 + 2 * half_j + 1, dtype=np.float32) - np.float32(cj)) * np.float32(-dy)
    if leg.side == 1:  # medial is +x for the right leg, -x for the left
        x = -x
    ca, sa = np.float32(math.cos(leg.angle)), np.float32(math.sin(leg.angle))
    u = ca * x[:, None] + sa * y[None, :]
    v = ca * y[None, :] - sa * x[:, None]
    rho = np.sqrt(u * u + v * v)
    inv_rho = 1.0 / np.maximum(rho, np.float32(1e-3))
    c, s = u * inv_rho, v * inv_rho
    r_skin, r_m = _outline(c, s, leg, r_skin_base, fat)
    return _Box((int(i0), int(j0)), u, v, rho, r_skin, r_m, r_comp, fat, r_skin_base)


def _render_leg(
    leg: _Leg,
    t: float,
    phase: float,
    centre: tuple[float, float],
    spacing: tuple[float, float],
    settings: Mapping[str, Any],
    textures: _Textures,
    rng: np.random.Generator,
) -> tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray]:
    """Render one thigh on its own pixel box.

    Returns
    -------
    origin
        (i0, j0), image indices of the box's first pixel.
    labels, fat, signal
        Box arrays: right-leg label ids, per-pixel fat fraction of muscle voxels (NaN
        elsewhere) and noise-free T1w signal (fat = 1).
    """
    box = _leg_box(leg, t, centre, spacing)
    u, v, rho = box.u, box.v, box.rho
    r_fat_in = box.r_skin - leg.skin
    shape = rho.shape
    labels = np.zeros(shape, dtype=np.uint8)
    signal = np.zeros(shape, dtype=np.float32)
    fatmap = np.full(shape, np.nan, dtype=np.float32)
    labels[rho < box.r_skin] = _LAB_SKIN
    signal[rho < box.r_skin] = 0.6
    subcut = rho < r_fat_in
    labels[subcut] = _LAB_SUBCUT
    signal[subcut] = 1.0

    # Great saphenous vein in the medial subcutaneous fat.
    cg, sg = np.array([math.cos(0.25)]), np.array([math.sin(0.25)])
    r_sk_g, r_m_g = _outline(cg, sg, leg, box.r_skin_base, box.fat)
    r_g = 0.5 * (float(r_sk_g[0]) - leg.skin + float(r_m_g[0]))
    gsv = (u - r_g * float(cg[0])) ** 2 + (v - r_g * float(sg[0])) ** 2 < max(
        1.6, 0.035 * box.r_comp
    ) ** 2
    gsv &= subcut
    labels[gsv] = _LAB_NV
    signal[gsv] = 0.12

    idx = np.nonzero(rho < box.r_m)
    lab, sig, f = _render_muscles(leg, t, phase, box, idx, spacing[0], settings, textures, rng)
    labels[idx] = lab
    signal[idx] = sig
    fatmap[idx] = np.where(lab <= len(MUSCLES), f, np.float32(np.nan))
    _render_femur(leg, box, settings, labels, signal, fatmap)
    return box.origin, labels, fatmap, signal


def _render_muscles(
    leg: _Leg,
    t: float,
    phase: float,
    box: _Box,
    idx: tuple[np.ndarray, np.ndarray],
    dx: float,
    settings: Mapping[str, Any],
    textures: _Textures,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, signal and fat fraction of the muscle-compartment pixels ``idx`` of a box.

    The compartment, in radius-normalised coordinates warped by a smooth field, is cut into
    the muscles' power-diagram cells with fascia on their borders and intermuscular fat pads;
    each muscle's fat is its level plus texture and the diagnosis pattern.
    """
    u, v, rho = box.u, box.v, box.rho
    rm_in = box.r_m[idx]
    qx = u[idx] / rm_in
    qy = v[idx] / rm_in
    g = leg.warp.shape[-1]
    coords = np.stack([(qx + 1.25) * ((g - 1) / 2.5), (qy + 1.25) * ((g - 1) / 2.5)])
    warp = math.cos(phase) * leg.warp[0] + math.sin(phase) * leg.warp[1]
    qwx = qx + _bilinear(warp[0], coords[0], coords[1], wrap=False)
    qwy = qy + _bilinear(warp[1], coords[0], coords[1], wrap=False)

    # Muscles: cells of a power diagram; fascia where the two nearest cells almost tie.
    dt = t - 0.5
    seeds = (_SEED_MID + _SEED_SLOPE * dt + leg.seeds).astype(np.float32)
    weights = (_WEIGHT_MID + _WEIGHT_SLOPE * dt + leg.weights).astype(np.float32)
    score = (qwx[None, :] - seeds[:, :1]) ** 2 + (qwy[None, :] - seeds[:, 1:]) ** 2
    score -= weights[:, None]
    columns = np.arange(score.shape[1])
    best = score.argmin(axis=0)
    s_best = score[best, columns]
    score[best, columns] = np.inf
    second = score.argmin(axis=0)
    s_second = score[second, columns]
    sep = np.linalg.norm(seeds[best] - seeds[second], axis=1)
    d_bis_px = (s_second - s_best) / (2.0 * np.maximum(sep, 1e-3)) * (rm_in / dx)
    d_edge_px = (rm_in - rho[idx]) / dx

    # Fat fraction per pixel: the muscle's level plus texture (mottled at two scales, streaks
    # along each muscle's own direction) and the diagnosis pattern, through a logistic map.
    size = textures.fine.shape[0]
    oi, oj = rng.integers(0, size, size=2)
    pi = (idx[0] + oi) % size
    pj = (idx[1] + oj) % size
    cos_b, sin_b = leg.fibre[best, 0], leg.fibre[best, 1]
    gi, gj = idx[0] + oi, idx[1] + oj  # unwrapped, so the rotated coordinates have no seam
    streaks = _bilinear(textures.streaks, cos_b * gi + sin_b * gj, cos_b * gj - sin_b * gi, True)
    texture = 0.6 * textures.fine[pi, pj] + 0.5 * textures.blobs[pi, pj] + 0.6 * streaks
    pattern = settings["pattern"]
    extra: np.ndarray | float = 0.0
    if pattern == "rim":
        extra = 2.8 * (np.exp(-np.minimum(d_bis_px, d_edge_px) / 2.0) - 0.3)
    elif pattern in ("patchy", "lumpy"):
        extra = (1.8 if pattern == "patchy" else 1.4) * textures.patches[pi, pj]
    gain = leg.gain[best]
    logit = leg.logit_ff[best] + gain * texture + (gain > 0.3) * extra
    f = (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    sig = leg.muscle_sig[best] * (1.0 - f) + f
    if pattern == "patchy":  # oedema: slightly low T1 signal in patches
        sig = sig * (1.0 - 0.06 * np.clip(extra, 0.0, None))

    lab = (best + 1).astype(np.uint8)
    fascia = d_bis_px < 0.5
    lab[fascia] = _LAB_FASCIA
    sig[fascia] = 0.5 * sig[fascia] + 0.3
    deep = d_edge_px < 0.7
    lab[deep] = _LAB_FASCIA
    sig[deep] = 0.22

    # Intermuscular fat pads with the femoral vessels and the sciatic nerve.
    pads = (
        (seeds[[4, 2, 6]].mean(axis=0), 0.075, 0.027, 0.08),  # adductor canal
        (seeds[[7, 8, 9]].mean(axis=0) * 0.85, 0.06, 0.032, 0.38),  # sciatic nerve
    )
    for centre_q, r_pad, r_nv, nv_sig in pads:
        d2 = (qwx - centre_q[0]) ** 2 + (qwy - centre_q[1]) ** 2
        pad = d2 < r_pad**2
        lab[pad] = _LAB_IMFAT
        sig[pad] = 0.95
        nv = d2 < r_nv**2
        lab[nv] = _LAB_NV
        sig[nv] = nv_sig
    return lab, sig, f


def _render_femur(
    leg: _Leg,
    box: _Box,
    settings: Mapping[str, Any],
    labels: np.ndarray,
    signal: np.ndarray,
    fatmap: np.ndarray,
) -> None:
    """Paint the femur into a box: cortex with the linea aspera (posterior ridge), marrow."""
    r_comp = box.r_comp
    r_f = leg.femur_ratio * r_comp
    fu, fv = leg.femur_q * r_comp
    du, dv = box.u - np.float32(fu), box.v - np.float32(fv)
    d_f = np.sqrt(du * du + dv * dv)
    near = np.nonzero(d_f < 1.4 * r_f)
    d_near = d_f[near]
    cos_post = -dv[near] / np.maximum(d_near, 1e-3)
    r_cortex = r_f * (1.0 + 0.25 * np.exp((cos_post - 1.0) * 12.8))
    sub_lab, sub_sig, sub_fat = labels[near], signal[near], fatmap[near]
    cortex = d_near < r_cortex
    marrow = d_near < leg.marrow_ratio * r_f
    sub_lab[cortex] = _LAB_CORTEX
    sub_sig[cortex] = 0.04
    sub_fat[cortex] = np.nan
    sub_lab[marrow] = _LAB_MARROW
    sub_sig[marrow] = settings["marrow_sig"]
    labels[near], signal[near], fatmap[near] = sub_lab, sub_sig, sub_fat
