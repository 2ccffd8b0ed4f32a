"""Diaphragm and chest-wall motion of one task: dome heights and thoracic width over time.

A task is a sequence of inspiratory *events* ``e`` (breaths, a sniff), each starting at end-
expiration: a raised-cosine inspiration of duration ``rise_e`` followed by a raised-cosine
expiration of duration ``fall_e`` back to rest::

    b_e(t) = (1 - cos(pi tau / rise_e)) / 2                         0 <= tau < rise_e
             (1 + cos(pi (tau - rise_e) / fall_e)) / 2              rise_e <= tau < rise_e + fall_e
             0                                                       otherwise,  tau = t - start_e

(continuous with a continuous first derivative). The curves of the task (world mm, ``z``
toward the head, :mod:`.phantom`)::

    D_s(t) = D_s0 - sum_e A_se b_e(t - delay_s)          (s = right, left)
    w(t)   = w0   + sum_e W_e  b_e(t - lag)

``A_se > 0`` moves the dome caudally on inspiration (normal), ``A_se < 0`` cranially
(*paradoxical*; such a side moves passively with the chest wall, ``delay_s = lag``; a normal
side has ``delay_s = 0``). ``lag`` is the delay of the chest wall (thoracic width) behind the
diaphragm (s; negative: the chest wall leads), the synchronicity parameter.

Tasks (:func:`draw_task_motion`; control values, then what the disease severity ``s`` in
``[0, 1]`` does to them):

``breathing``
    quiet breathing from ``t = 0`` (one or more breaths, period ``P_q``, phase ``quiet``), then
    two deep breaths (period ``P_d`` ~ U(2, 2.5) s each, phase ``deep``) ending at the end of
    the task: ``P_q = (duration - 2 P_d) / n_q``, ``n_q = max(1, round(that / 4 s))`` (3-4 s
    at the default 8 s). Inspiration takes 35-45 % of a breath. Dome excursion per breath:
    quiet U(10, 20) mm, deep U(40, 70) mm (right; the left dome moves U(0.95, 1.15) times as
    much), each breath jittered by U(0.9, 1.1); chest-wall (width) excursion quiet U(4, 8) mm,
    deep U(15, 25) mm.
``sniff``
    rest, one sniff at ``t_s`` ~ U(0.25, 0.45) x duration: inspiration ``rise`` U(0.25, 0.4) s,
    passive return U(0.8, 1.2) s, rest (phase ``sniff`` throughout). Dome excursion U(25, 40) mm
    (left U(0.95, 1.1) times), chest wall U(6, 12) mm: peak dome velocities
    ``pi A / (2 rise)`` of 10-25 cm/s, in line with ultrasound sniff excursions of 2.6-2.9 cm
    (Boussuges et al., Chest 2009) and sniff inspirations of a few hundred ms (a modelling
    choice, not the paper's values). A paradoxical side rises U(5, 15) mm with the chest wall.

Disease (:class:`Response`, shared by the tasks): the diaphragm excursions are multiplied by
``f = clip(1 - 0.7 s j, 0.15, 1)`` (``j`` ~ U(0.85, 1.15): about 30-80 % of a control's at
``s`` 0.25-1), the chest-wall excursion by ``1 + s (c - 1)`` (``c`` ~ U(0.95, 1.25):
preserved or compensatory), the sniff inspiration lasts ``1 + 0.6 s k`` times longer (``k`` ~
U(0.8, 1.2)) and ``lag = l0 - 0.6 s m`` with ``l0`` ~ U(0, 0.1) s, ``m`` ~ U(0.8, 1.2): the
chest wall follows the diaphragm within 0.1 s in controls and leads it by up to about 0.6 s in
severe patients. Paradoxical sides are given (the participants table), only for the sniff.
``motion_scale`` multiplies every amplitude.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qmrflow.errors import ConfigError

__all__ = ["Response", "TaskMotion", "draw_response", "draw_task_motion"]

SIDES: tuple[str, str] = ("right", "left")


@dataclass(frozen=True)
class Response:
    """A subject's disease response (see the module docstring), shared by its tasks.

    Attributes
    ----------
    severity
        Disease severity ``s`` (0 control-like, 1 severe).
    excursion_factor
        ``f``: multiplies every diaphragm excursion.
    chest_factor
        Multiplies every chest-wall (width) excursion.
    sniff_slowing
        Multiplies the duration of the sniff inspiration.
    lag
        Delay (s) of the chest wall behind the diaphragm (negative: the chest wall leads).
    """

    severity: float
    excursion_factor: float
    chest_factor: float
    sniff_slowing: float
    lag: float


def draw_response(rng: np.random.Generator, severity: float) -> Response:
    """Draw the response to ``severity`` (four draws whatever the severity)."""
    s = float(severity)
    j, c, k, l0, m = (
        rng.uniform(0.85, 1.15),
        rng.uniform(0.95, 1.25),
        rng.uniform(0.8, 1.2),
        rng.uniform(0.0, 0.1),
        rng.uniform(0.8, 1.2),
    )
    return Response(
        severity=s,
        excursion_factor=float(np.clip(1.0 - 0.7 * s * j, 0.15, 1.0)),
        chest_factor=float(1.0 + s * (c - 1.0)),
        sniff_slowing=float(1.0 + 0.6 * s * k),
        lag=float(l0 - 0.6 * s * m),
    )


def _events(t: np.ndarray, start, rise, fall, derivative: bool = False) -> np.ndarray:
    """``b_e(t)`` (or its time derivative, 1/s) for every event: ``(len(t), E)``."""
    tau = np.asarray(t, dtype=float)[:, None] - np.asarray(start)[None, :]
    rise, fall = np.asarray(rise)[None, :], np.asarray(fall)[None, :]
    up = (tau >= 0.0) & (tau < rise)
    down = (tau >= rise) & (tau < rise + fall)
    a = np.pi * np.clip(tau, 0.0, None) / rise
    b = np.pi * np.clip(tau - rise, 0.0, None) / fall
    if derivative:
        return np.where(up, 0.5 * np.pi / rise * np.sin(a), 0.0) + np.where(
            down, -0.5 * np.pi / fall * np.sin(b), 0.0
        )
    return np.where(up, 0.5 * (1.0 - np.cos(a)), 0.0) + np.where(down, 0.5 * (1.0 + np.cos(b)), 0.0)


@dataclass(frozen=True)
class TaskMotion:
    """The motion of one task (module docstring), world mm and seconds.

    Attributes
    ----------
    task
        ``breathing`` or ``sniff``.
    duration
        Seconds.
    start, rise, fall
        ``(E,)`` start, inspiration and expiration durations of every event.
    event_phase
        ``(E,)`` phase name of every event (``quiet``, ``deep``, ``sniff``).
    phases
        ``(name, t0, t1)``: the task's phases, covering ``[0, duration)``.
    dome_rest
        ``(right, left)`` end-expiration dome heights ``D_s0``.
    dome_amplitude
        ``(2, E)`` ``A_se`` (positive: caudal on inspiration; negative: paradoxical).
    width_rest
        ``w0``.
    width_amplitude
        ``(E,)`` ``W_e``.
    lag
        Delay of the chest wall behind the diaphragm (s).
    paradoxical
        ``(right, left)``: the side moves cranially with the chest wall.
    """

    task: str
    duration: float
    start: np.ndarray
    rise: np.ndarray
    fall: np.ndarray
    event_phase: tuple[str, ...]
    phases: tuple[tuple[str, float, float], ...]
    dome_rest: tuple[float, float]
    dome_amplitude: np.ndarray
    width_rest: float
    width_amplitude: np.ndarray
    lag: float
    paradoxical: tuple[bool, bool]

    def _delays(self) -> tuple[float, float]:
        return tuple(self.lag if p else 0.0 for p in self.paradoxical)  # type: ignore[return-value]

    def dome(self, t: np.ndarray) -> np.ndarray:
        """``(2, T)`` dome heights ``D_s(t)`` (right, left), mm."""
        out = []
        for k, delay in enumerate(self._delays()):
            b = _events(np.asarray(t) - delay, self.start, self.rise, self.fall)
            out.append(self.dome_rest[k] - b @ self.dome_amplitude[k])
        return np.stack(out)

    def dome_velocity(self, t: np.ndarray) -> np.ndarray:
        """``(2, T)`` ``dD_s/dt`` (mm/s; negative: descending)."""
        out = []
        for k, delay in enumerate(self._delays()):
            db = _events(np.asarray(t) - delay, self.start, self.rise, self.fall, derivative=True)
            out.append(-(db @ self.dome_amplitude[k]))
        return np.stack(out)

    def width(self, t: np.ndarray) -> np.ndarray:
        """``(T,)`` thoracic width ``w(t)``, mm."""
        b = _events(np.asarray(t) - self.lag, self.start, self.rise, self.fall)
        return self.width_rest + b @ self.width_amplitude

    def phase_of(self, t: np.ndarray) -> np.ndarray:
        """The phase name at every time (object array)."""
        t = np.asarray(t, dtype=float)
        out = np.full(t.shape, self.phases[-1][0], dtype=object)
        for name, t0, t1 in reversed(self.phases):
            out[(t >= t0) & (t < t1)] = name
        return out


def _breathing_events(rng: np.random.Generator, duration: float):
    """Start, rise, fall, phase and base amplitudes (dome, width) of the breathing task."""
    deep_period = rng.uniform(2.0, 2.5)
    quiet_total = duration - 2.0 * deep_period
    n_quiet = max(1, round(quiet_total / 4.0))
    quiet_period = quiet_total / n_quiet
    periods = np.array([quiet_period] * n_quiet + [deep_period] * 2)
    start = np.concatenate([[0.0], np.cumsum(periods)[:-1]])
    rise = periods * rng.uniform(0.35, 0.45, periods.size)
    jitter = rng.uniform(0.9, 1.1, periods.size)
    dome = np.where(np.arange(periods.size) < n_quiet, rng.uniform(10, 20), rng.uniform(40, 70))
    width = np.where(np.arange(periods.size) < n_quiet, rng.uniform(4, 8), rng.uniform(15, 25))
    phase = ("quiet",) * n_quiet + ("deep", "deep")
    phases = (("quiet", 0.0, float(start[n_quiet])), ("deep", float(start[n_quiet]), duration))
    return start, rise, periods - rise, phase, phases, dome * jitter, width * jitter


def draw_task_motion(
    task: str,
    rng: np.random.Generator,
    response: Response,
    *,
    duration: float,
    dome_rest: tuple[float, float],
    width_rest: float,
    paradoxical: tuple[bool, bool] = (False, False),
    scale: float = 1.0,
) -> TaskMotion:
    """Draw the motion of ``task`` (a fixed number of draws for given settings; module doc).

    Parameters
    ----------
    task
        ``breathing`` or ``sniff``.
    rng
        The task's motion stream.
    response
        The subject's disease response.
    duration
        Task duration (s).
    dome_rest, width_rest
        End-expiration dome heights ``(right, left)`` and thoracic width (mm, the anatomy's).
    paradoxical
        ``(right, left)`` paradoxical sides (used by the sniff only).
    scale
        Multiplies every amplitude (``motion_scale``).
    """
    side_ratio = rng.uniform(0.95, 1.15) if task == "breathing" else rng.uniform(0.95, 1.1)
    if task == "breathing":
        start, rise, fall, phase, phases, dome, width = _breathing_events(rng, duration)
        paradoxical = (False, False)
        rises = np.zeros(2)
    elif task == "sniff":
        start = np.array([rng.uniform(0.25, 0.45) * duration])
        rise = np.array([rng.uniform(0.25, 0.4) * response.sniff_slowing])
        fall = np.array([rng.uniform(0.8, 1.2)])
        dome = np.array([rng.uniform(25.0, 40.0)])
        width = np.array([rng.uniform(6.0, 12.0)])
        rises = rng.uniform(5.0, 15.0, 2)
        phase, phases = ("sniff",), (("sniff", 0.0, float(duration)),)
        paradoxical = (bool(paradoxical[0]), bool(paradoxical[1]))
    else:
        raise ConfigError(f"unknown task {task!r}; known: breathing, sniff")
    amplitude = np.stack([dome, dome * side_ratio]) * response.excursion_factor
    for k in range(2):
        if paradoxical[k]:
            amplitude[k] = -rises[k]
    return TaskMotion(
        task=task,
        duration=float(duration),
        start=start,
        rise=rise,
        fall=fall,
        event_phase=phase,
        phases=phases,
        dome_rest=(float(dome_rest[0]), float(dome_rest[1])),
        dome_amplitude=amplitude * float(scale),
        width_rest=float(width_rest),
        width_amplitude=width * response.chest_factor * float(scale),
        lag=response.lag,
        paradoxical=paradoxical,
    )
