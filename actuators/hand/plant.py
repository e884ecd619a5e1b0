"""Tendon-hand physics, one fixed step ``dt`` [s] (float64, numba, allocation-free).

Per actuator k (nut coordinate x [m], velocity v [m/s], motor current i [A])::

    current loop (closed, first order):  i+ = i + a (i_ref - i),  a = 1 - exp(-dt / tau_i)
    winding:   u = R i_m + L (i+ - i)/dt + k_t w,   w = k_rot v,  i_m = (i + i+)/2  [V]
               |u| <= V_bus (else i+ solves the equation with u = +-V_bus); the energy
               bookkeeping uses the back-EMF at the velocity the step applied
    drive:     F_d = k_t k_rot i_m                       [N] ideal axial force (k_rot = 2 pi N/lead)
    tendon:    e = x - R_k . q - s_0 ;  T = max(0, k_td e + c_td de/dt) if e > 0 else 0   [N]
    nut:       m_eq dv/dt = F_d - T - F_f, Coulomb friction F_f solved implicitly (stick at v = 0):
               moving +x (motor pulls the tendon):  |F_f| = F_c0 + (1/eta_f - 1) T
               moving -x (tendon back-drives):      |F_f| = F_c0 + (1 - eta_b) T
    capstan:   T_f = T exp(-mu Theta tanh(s / s_eps)),  s = R_k . dq/dt   [N] at the finger

The nut step is linearly implicit in the tendon stiffness and damping (finger side held).
So quasi-static driving needs F_d = T / eta_f + F_c0 and back-driving happens when
eta_b T > F_c0 + F_d: the screw's force/torque relation F = 2 pi eta tau_screw / lead.

Per finger chain (joints q [rad], diagonal composite inertias I [kg m^2])::

    I ddq = R^T T_f - (p + k_s q) - b dq + tau_limits + sum_c J_c^T F_c
    contact c:  delta = r_pad - sdf(p_c);  F_n = max(0, k_c delta - c_c n . v_c)
                pad stiction (elasto-plastic): an anchor a_c on the object is set at first
                touch; d_t = P_t (p_c - a_c) (P_t = I - n n^T), and if k_t |d_t| > mu F_n the
                anchor slides to |d_t| = mu F_n / k_t (the spring energy above that is the
                slip work); F_t = -k_t d_t - c_t v_t. A pad under a tangential load below
                mu F_n stays put (elastic deflection only, no creep); contact lost clears it.

integrated linearly-implicitly per finger block (semi-implicit Euler on the stiff terms):
``(M + dt D + dt^2 K) (dq+ - dq) = dt (tau - dt K dq)``, ``q+ = q + dt dq+``, with K, D the
stiffness and damping Jacobians of tendon, springs, end stops and contacts. The nut moves
first (explicit tension, implicit friction); the fingers then see the new nut position.

Energy bookkeeping ``E`` (J): 0 electrical input sum(u i dt), 1 copper, 2 screw friction and
end stops, 3 tendon damping and capstan, 4 joint viscous and end-stop damping, 5 contact
damping and friction (slip work included). :func:`stored_energy` gives kinetic + magnetic +
spring energies (the pads' tangential springs too). ``cst`` (n_contacts, 4) holds each pad's
anchor [m, palm frame] and an anchored flag.
"""

from __future__ import annotations

import math

import numpy as np

from cerebellum_rt.rtcore.jit import njit

# actuator parameter columns (HandPreset.act)
A_R, A_L, A_KT, A_KROT, A_ETAF, A_ETAB, A_FC0, A_MEQ, A_TAUI, A_VBUS = range(10)
A_KTD, A_CTD, A_MUTH, A_SLACK, A_SEPS, A_IMAX = range(10, 16)
# joint parameter columns (HandPreset.jnt)
J_I, J_B, J_KS, J_PRE, J_QMIN, J_QMAX, J_KLIM, J_CLIM = range(8)
# actuator state columns
X_POS, X_VEL, X_CUR = range(3)


@njit(cache=False, inline="always", error_model="numpy")
def sdf(obj: np.ndarray, px: float, py: float, pz: float) -> tuple[float, float, float, float]:
    """Signed distance [m] from point p to the object surface and the outward unit normal.

    ``obj`` = [kind, center xyz, axis xyz, radius, half extents xyz]; kind 1 cylinder (infinite,
    along the unit axis), 2 sphere, 3 axis-aligned box, 0 none (returns +1e9).
    """
    kind = int(obj[0])
    wx, wy, wz = px - obj[1], py - obj[2], pz - obj[3]
    if kind == 1:
        d = wx * obj[4] + wy * obj[5] + wz * obj[6]
        wx, wy, wz = wx - d * obj[4], wy - d * obj[5], wz - d * obj[6]
    if kind == 1 or kind == 2:
        r = math.sqrt(wx * wx + wy * wy + wz * wz)
        if r < 1e-12:
            return -obj[7], 0.0, 0.0, 1.0
        return r - obj[7], wx / r, wy / r, wz / r
    if kind == 3:
        qx, qy, qz = abs(wx) - obj[8], abs(wy) - obj[9], abs(wz) - obj[10]
        if qx > 0.0 or qy > 0.0 or qz > 0.0:
            ox, oy, oz = max(qx, 0.0), max(qy, 0.0), max(qz, 0.0)
            r = math.sqrt(ox * ox + oy * oy + oz * oz)
            return r, math.copysign(ox, wx) / r, math.copysign(oy, wy) / r, math.copysign(oz, wz) / r
        if qx >= qy and qx >= qz:
            return qx, math.copysign(1.0, wx), 0.0, 0.0
        if qy >= qz:
            return qy, 0.0, math.copysign(1.0, wy), 0.0
        return qz, 0.0, 0.0, math.copysign(1.0, wz)
    return 1e9, 0.0, 0.0, 1.0


@njit(cache=False, inline="always", error_model="numpy")
def screw_friction(tension: float, direction: float, eta_f: float, eta_b: float, f_c0: float) -> float:
    """Kinetic friction magnitude [N] at the nut for motion in ``direction`` (+1 pulling the
    tendon, -1 back-driven by it) under tendon tension [N] (see the module equations)."""
    if direction > 0.0:
        return f_c0 + (1.0 / eta_f - 1.0) * tension
    return f_c0 + (1.0 - eta_b) * tension


@njit(cache=False, inline="always", error_model="numpy")
def tendon_tension(act: np.ndarray, R: np.ndarray, k: int, x: float, v: float, q: np.ndarray,
                   qd: np.ndarray) -> tuple[float, float, float]:
    """(nut-side tension [N], stretch e [m], finger-side slide rate s [m/s]) of tendon k."""
    rq = 0.0
    s = 0.0
    for j in range(q.shape[0]):
        rq += R[k, j] * q[j]
        s += R[k, j] * qd[j]
    e = x - rq - act[k, A_SLACK]
    if e <= 0.0:
        return 0.0, e, s
    t = act[k, A_KTD] * e + act[k, A_CTD] * (v - s)
    return max(t, 0.0), e, s


@njit(cache=False, inline="always", error_model="numpy")
def tendon_tension_chain(act: np.ndarray, R: np.ndarray, k: int, fing_i: np.ndarray, fot: np.ndarray,
                         x: float, v: float, q: np.ndarray, qd: np.ndarray) -> tuple[float, float, float]:
    """:func:`tendon_tension` summing only over the joints of the tendon's finger chain (the
    preset guarantees that a tendon's moment arms lie in one finger)."""
    f = fot[k]
    rq = 0.0
    s = 0.0
    jr = fing_i[f, 0]
    if jr >= 0:
        rq += R[k, jr] * q[jr]
        s += R[k, jr] * qd[jr]
    for li in range(fing_i[f, 1]):
        j = fing_i[f, 2 + li]
        rq += R[k, j] * q[j]
        s += R[k, j] * qd[j]
    e = x - rq - act[k, A_SLACK]
    if e <= 0.0:
        return 0.0, e, s
    t = act[k, A_KTD] * e + act[k, A_CTD] * (v - s)
    return max(t, 0.0), e, s


@njit(cache=False, inline="always", error_model="numpy")
def _actuators(act: np.ndarray, R: np.ndarray, fing_i: np.ndarray, fot: np.ndarray, stroke: np.ndarray,
               dt: float, i_ref: np.ndarray, xs: np.ndarray, q: np.ndarray, qd: np.ndarray, E: np.ndarray) -> None:
    for k in range(xs.shape[0]):
        x, v, i = xs[k, X_POS], xs[k, X_VEL], xs[k, X_CUR]
        r_, l_, kt, krot = act[k, A_R], act[k, A_L], act[k, A_KT], act[k, A_KROT]
        vbus, imax = act[k, A_VBUS], act[k, A_IMAX]
        w = krot * v
        ir = min(max(i_ref[k], -imax), imax)
        i_new = i + (1.0 - math.exp(-dt / act[k, A_TAUI])) * (ir - i)
        u = r_ * 0.5 * (i + i_new) + l_ * (i_new - i) / dt + kt * w
        if u > vbus or u < -vbus:
            u = vbus if u > vbus else -vbus
            i_new = (u - kt * w + l_ * i / dt - 0.5 * r_ * i) / (0.5 * r_ + l_ / dt)
        im = 0.5 * (i + i_new)
        t, e, _ = tendon_tension_chain(act, R, k, fing_i, fot, x, v, q, qd)
        # nut: linearly implicit in the tendon stiffness/damping (finger side held), Coulomb
        # friction as an implicit impulse (stick at v = 0)
        m = act[k, A_MEQ]
        if e > 0.0 and t > 0.0:
            m += dt * act[k, A_CTD] + dt * dt * act[k, A_KTD]
            v_free = v + dt * (kt * krot * im - t - dt * act[k, A_KTD] * v) / m
        else:
            v_free = v + dt * (kt * krot * im - t) / m
        if v_free > 0.0:
            f = screw_friction(t, 1.0, act[k, A_ETAF], act[k, A_ETAB], act[k, A_FC0])
            v_new = max(v_free - dt * f / m, 0.0)
        elif v_free < 0.0:
            f = screw_friction(t, -1.0, act[k, A_ETAF], act[k, A_ETAB], act[k, A_FC0])
            v_new = min(v_free + dt * f / m, 0.0)
        else:
            f = 0.0
            v_new = 0.0
        x_new = x + dt * v_new
        v_app = v_new
        if x_new > stroke[1] or x_new < stroke[0]:  # rigid end stop: inelastic impact
            x_new = min(max(x_new, stroke[0]), stroke[1])
            v_app = (x_new - x) / dt
            # kinetic energy and the drive's work into the stop are lost in the impact
            E[2] += 0.5 * act[k, A_MEQ] * v * v + (kt * krot * im - t) * v_app * dt
            v_new = 0.0
        else:
            E[2] += f * abs(v_new) * dt
        # electrical input with the back-EMF of the velocity the step applied, so that
        # u i dt = R i^2 dt + d(L i^2 / 2) + F_d v dt exactly
        u_b = r_ * im + l_ * (i_new - i) / dt + kt * krot * v_app
        E[0] += u_b * im * dt
        E[1] += r_ * im * im * dt
        xs[k, X_POS], xs[k, X_VEL], xs[k, X_CUR] = x_new, v_new, i_new


@njit(cache=False, inline="always", error_model="numpy")
def _solve(wk: np.ndarray, n: int) -> None:
    """In-place Gaussian elimination of the SPD block wk[:n,:n] x = wk[4,:n] (x into row 4)."""
    for c in range(n):
        p = wk[c, c]
        for r in range(c + 1, n):
            f = wk[r, c] / p
            for cc in range(c, n):
                wk[r, cc] -= f * wk[c, cc]
            wk[4, r] -= f * wk[4, c]
    for c in range(n - 1, -1, -1):
        s = wk[4, c]
        for cc in range(c + 1, n):
            s -= wk[c, cc] * wk[4, cc]
        wk[4, c] = s / wk[c, c]


@njit(cache=False, inline="always", error_model="numpy")
def _finger(f: int, act: np.ndarray, jnt: np.ndarray, R: np.ndarray, fing_i: np.ndarray,
            fing_f: np.ndarray, cpt_i: np.ndarray, cpt_f: np.ndarray, contact: np.ndarray,
            obj: np.ndarray, fot: np.ndarray, dt: float, xs: np.ndarray, q: np.ndarray,
            qd: np.ndarray, E: np.ndarray, tens: np.ndarray, fpad: np.ndarray, cst: np.ndarray,
            wk: np.ndarray) -> None:
    # wk rows: 0..3 A (block matrix), 4 tau, 5 K dq, 6..8 link unit vectors e_l (cols l),
    # 9..11 link tangents t_l, 12..14 contact Jacobian (xyz rows, chain cols), 15 chain joints,
    # 16..19 joint-space contact damping, 20 joint damping (both for the loss bookkeeping),
    # 21 J^T n of the current contact
    jr, nfl = fing_i[f, 0], fing_i[f, 1]
    off = 1 if jr >= 0 else 0
    nc = nfl + off
    if jr >= 0:
        wk[15, 0] = jr
    for li in range(nfl):
        wk[15, off + li] = fing_i[f, 2 + li]
    e3, e4 = 0.0, 0.0
    for a in range(nc):
        j = int(wk[15, a])
        kk = jnt[j, J_KS]
        dd = jnt[j, J_B]
        qj, wj = q[j], qd[j]
        ta = -(jnt[j, J_PRE] + kk * qj + dd * wj)
        pen = 0.0
        if qj < jnt[j, J_QMIN]:
            pen = jnt[j, J_QMIN] - qj
        elif qj > jnt[j, J_QMAX]:
            pen = jnt[j, J_QMAX] - qj
        if pen != 0.0:
            ta += jnt[j, J_KLIM] * pen - jnt[j, J_CLIM] * wj
            kk += jnt[j, J_KLIM]
            dd += jnt[j, J_CLIM]
        for c in range(nc):
            wk[a, c] = 0.0
            wk[16 + a, c] = 0.0
        wk[a, a] = jnt[j, J_I] + dt * dd + dt * dt * kk
        wk[4, a] = ta
        wk[5, a] = kk * wj
        wk[20, a] = dd  # joint damping (for the loss bookkeeping)
    # tendons of this finger (nut already advanced)
    for k in range(fot.shape[0]):
        if fot[k] != f:
            continue
        t, e, s = tendon_tension_chain(act, R, k, fing_i, fot, xs[k, X_POS], xs[k, X_VEL], q, qd)
        if e <= 0.0:
            tens[k, 0] = 0.0
            tens[k, 1] = 0.0
            continue
        mth, seps = act[k, A_MUTH], act[k, A_SEPS]
        th = math.tanh(s / seps)
        g = math.exp(-mth * th)
        tf = t * g
        tens[k, 0] = t
        tens[k, 1] = tf
        kt_, ct_ = 0.0, 0.0
        if t > 0.0:
            kt_ = act[k, A_KTD] * g
            ct_ = act[k, A_CTD] * g + t * g * mth * (1.0 - th * th) / seps
        for a in range(nc):
            ra = R[k, int(wk[15, a])]
            if ra == 0.0:
                continue
            wk[4, a] += ra * tf
            for c in range(nc):
                rc = R[k, int(wk[15, c])]
                wk[a, c] += (dt * ct_ + dt * dt * kt_) * ra * rc
                wk[5, a] += kt_ * ra * rc * qd[int(wk[15, c])]
    # chain kinematics: rotate the flexion plane, link directions
    ax, ay, az = fing_f[f, 3], fing_f[f, 4], fing_f[f, 5]
    bx, by, bz = fing_f[f, 6], fing_f[f, 7], fing_f[f, 8]
    ux, uy, uz = fing_f[f, 9], fing_f[f, 10], fing_f[f, 11]
    if jr >= 0:
        ax, ay, az, bx, by, bz = _rotate_plane(ax, ay, az, bx, by, bz, ux, uy, uz, q[jr])
    phi = 0.0
    for li in range(nfl):
        phi += q[int(wk[15, off + li])]
        c, s_ = math.cos(phi), math.sin(phi)
        wk[6, li], wk[7, li], wk[8, li] = c * ax + s_ * bx, c * ay + s_ * by, c * az + s_ * bz
        wk[9, li], wk[10, li], wk[11, li] = -s_ * ax + c * bx, -s_ * ay + c * by, -s_ * az + c * bz
    ox, oy, oz = fing_f[f, 0], fing_f[f, 1], fing_f[f, 2]
    rpad, kc, cc, mu, ktan, ctan = contact[0], contact[1], contact[2], contact[3], contact[4], contact[5]
    c0, ncp = fing_i[f, 5], fing_i[f, 6]
    e5 = 0.0
    for ci in range(c0, c0 + ncp):
        link = cpt_i[ci, 1]
        px, py, pz = ox, oy, oz
        for li in range(link + 1):
            ll = fing_f[f, 15 + li] * (cpt_f[ci] if li == link else 1.0)
            px += ll * wk[6, li]
            py += ll * wk[7, li]
            pz += ll * wk[8, li]
        phi_c, nx, ny, nz = sdf(obj, px, py, pz)
        delta = rpad - phi_c
        fpad[ci] = 0.0
        # tangential deflection of the pad from its anchor
        dx, dy, dz = px - cst[ci, 0], py - cst[ci, 1], pz - cst[ci, 2]
        dn = dx * nx + dy * ny + dz * nz
        dx, dy, dz = dx - dn * nx, dy - dn * ny, dz - dn * nz
        if delta <= 0.0:
            if cst[ci, 3] > 0.0:  # contact lost: the pad's shear spring relaxes
                e5 += 0.5 * ktan * (dx * dx + dy * dy + dz * dz) / dt
                cst[ci, 3] = 0.0
            continue
        # Jacobian columns and point velocity
        for a in range(nc):
            wk[12, a], wk[13, a], wk[14, a] = 0.0, 0.0, 0.0
        if jr >= 0:
            wk[12, 0] = uy * (pz - oz) - uz * (py - oy)
            wk[13, 0] = uz * (px - ox) - ux * (pz - oz)
            wk[14, 0] = ux * (py - oy) - uy * (px - ox)
        for li in range(link + 1):
            ll = fing_f[f, 15 + li] * (cpt_f[ci] if li == link else 1.0)
            for a in range(off, off + li + 1):  # joints proximal to (or at) link li move it
                wk[12, a] += ll * wk[9, li]
                wk[13, a] += ll * wk[10, li]
                wk[14, a] += ll * wk[11, li]
        vx, vy, vz = 0.0, 0.0, 0.0
        for a in range(nc):
            w = qd[int(wk[15, a])]
            vx += wk[12, a] * w
            vy += wk[13, a] * w
            vz += wk[14, a] * w
        vn = vx * nx + vy * ny + vz * nz
        fn = kc * delta - cc * vn
        if fn <= 0.0:
            if cst[ci, 3] > 0.0:
                e5 += 0.5 * ktan * (dx * dx + dy * dy + dz * dz) / dt
                cst[ci, 3] = 0.0
            continue
        if cst[ci, 3] == 0.0:  # first touch: anchor here
            dx, dy, dz = 0.0, 0.0, 0.0
            cst[ci, 3] = 1.0
        dd = math.sqrt(dx * dx + dy * dy + dz * dz)
        rmax = mu * fn / ktan
        if dd > rmax:  # beyond the friction cone: the anchor slides, the excess is slip work
            e5 += 0.5 * ktan * (dd * dd - rmax * rmax) / dt
            sc = rmax / dd
            dx, dy, dz = dx * sc, dy * sc, dz * sc
        cst[ci, 0], cst[ci, 1], cst[ci, 2] = px - dx, py - dy, pz - dz
        tx, ty, tz = vx - vn * nx, vy - vn * ny, vz - vn * nz
        fx = fn * nx - ktan * dx - ctan * tx
        fy = fn * ny - ktan * dy - ctan * ty
        fz = fn * nz - ktan * dz - ctan * tz
        fpad[ci] = fn
        for a in range(nc):  # J^T n, generalized force, K dq (J^T K_c J dq = J^T (k_c n v_n + k_t v_t))
            ja_n = wk[12, a] * nx + wk[13, a] * ny + wk[14, a] * nz
            wk[21, a] = ja_n
            wk[4, a] += wk[12, a] * fx + wk[13, a] * fy + wk[14, a] * fz
            wk[5, a] += kc * ja_n * vn + ktan * (wk[12, a] * tx + wk[13, a] * ty + wk[14, a] * tz)
        for a in range(nc):  # symmetric stiffness / damping blocks
            ja_n = wk[21, a]
            for c in range(a, nc):
                jc_n = wk[21, c]
                jj = wk[12, a] * wk[12, c] + wk[13, a] * wk[13, c] + wk[14, a] * wk[14, c]
                dmp = cc * ja_n * jc_n + ctan * (jj - ja_n * jc_n)
                add = dt * dmp + dt * dt * (kc * ja_n * jc_n + ktan * (jj - ja_n * jc_n))
                wk[a, c] += add
                wk[16 + a, c] += dmp
                if c != a:
                    wk[c, a] += add
                    wk[16 + c, a] += dmp
    for a in range(nc):
        wk[4, a] = dt * (wk[4, a] - dt * wk[5, a])
    _solve(wk, nc)
    for a in range(nc):
        j = int(wk[15, a])
        qd[j] += wk[4, a]
        q[j] += dt * qd[j]
    # losses at the new velocities (what the implicit step dissipates through D dq+)
    for a in range(nc):
        wa = qd[int(wk[15, a])]
        e4 += wk[20, a] * wa * wa
        for c in range(nc):
            e5 += wk[16 + a, c] * wa * qd[int(wk[15, c])]
    for k in range(fot.shape[0]):
        if fot[k] == f and tens[k, 0] > 0.0:
            s = 0.0
            for a in range(nc):
                s += R[k, int(wk[15, a])] * qd[int(wk[15, a])]
            de = xs[k, X_VEL] - s
            e3 += act[k, A_CTD] * de * de + max((tens[k, 0] - tens[k, 1]) * s, 0.0)
    E[3] += e3 * dt
    E[4] += e4 * dt
    E[5] += e5 * dt


@njit(cache=False, inline="always", error_model="numpy")
def _rotate_plane(ax: float, ay: float, az: float, bx: float, by: float, bz: float, ux: float, uy: float,
                  uz: float, ang: float) -> tuple[float, float, float, float, float, float]:
    """Rodrigues rotation of the plane vectors a, b by ``ang`` [rad] about the unit axis u."""
    cr, sr = math.cos(ang), math.sin(ang)
    ud = ux * ax + uy * ay + uz * az
    a0 = ax * cr + (uy * az - uz * ay) * sr + ux * ud * (1 - cr)
    a1 = ay * cr + (uz * ax - ux * az) * sr + uy * ud * (1 - cr)
    a2 = az * cr + (ux * ay - uy * ax) * sr + uz * ud * (1 - cr)
    ud = ux * bx + uy * by + uz * bz
    b0 = bx * cr + (uy * bz - uz * by) * sr + ux * ud * (1 - cr)
    b1 = by * cr + (uz * bx - ux * bz) * sr + uy * ud * (1 - cr)
    b2 = bz * cr + (ux * by - uy * bx) * sr + uz * ud * (1 - cr)
    return a0, a1, a2, b0, b1, b2


@njit(cache=False, inline="always", error_model="numpy")
def plant_step(act: np.ndarray, jnt: np.ndarray, R: np.ndarray, fing_i: np.ndarray, fing_f: np.ndarray,
               cpt_i: np.ndarray, cpt_f: np.ndarray, contact: np.ndarray, obj: np.ndarray, fot: np.ndarray,
               stroke: np.ndarray, dt: float, i_ref: np.ndarray, xs: np.ndarray, q: np.ndarray,
               qd: np.ndarray, E: np.ndarray, tens: np.ndarray, fpad: np.ndarray, cst: np.ndarray,
               wk: np.ndarray) -> None:
    """Advance the whole hand by ``dt`` [s] with motor current references ``i_ref`` [A].

    Real-time safe: no allocation. Writes ``xs`` (n_act, 3: x [m], v [m/s], i [A]), ``q`` [rad],
    ``qd`` [rad/s], energy sums ``E`` [J], ``tens`` (n_act, 2: nut-side and finger-side tension
    [N] seen by this step), ``fpad`` (normal force per contact point [N]) and ``cst`` (pad
    anchors, see the module doc). ``wk`` is a
    (22, 4) scratch array.
    """
    _actuators(act, R, fing_i, fot, stroke, dt, i_ref, xs, q, qd, E)
    for f in range(fing_i.shape[0]):
        _finger(f, act, jnt, R, fing_i, fing_f, cpt_i, cpt_f, contact, obj, fot, dt, xs, q, qd, E,
                tens, fpad, cst, wk)


@njit(cache=False, inline="always", error_model="numpy")
def stored_energy(act: np.ndarray, jnt: np.ndarray, R: np.ndarray, fing_i: np.ndarray, fing_f: np.ndarray,
                  cpt_i: np.ndarray, cpt_f: np.ndarray, contact: np.ndarray, obj: np.ndarray,
                  xs: np.ndarray, q: np.ndarray, qd: np.ndarray, cst: np.ndarray) -> float:
    """Kinetic + magnetic + elastic energy [J] of the hand state (springs, preloads, tendon,
    end stops, contact pads: normal and anchored tangential springs)."""
    e = 0.0
    for k in range(xs.shape[0]):
        e += 0.5 * act[k, A_MEQ] * xs[k, X_VEL] ** 2 + 0.5 * act[k, A_L] * xs[k, X_CUR] ** 2
        rq = 0.0
        for j in range(q.shape[0]):
            rq += R[k, j] * q[j]
        st = xs[k, X_POS] - rq - act[k, A_SLACK]
        if st > 0.0:
            e += 0.5 * act[k, A_KTD] * st * st
    for j in range(q.shape[0]):
        e += 0.5 * jnt[j, J_I] * qd[j] ** 2 + jnt[j, J_PRE] * q[j] + 0.5 * jnt[j, J_KS] * q[j] ** 2
        if q[j] < jnt[j, J_QMIN]:
            e += 0.5 * jnt[j, J_KLIM] * (jnt[j, J_QMIN] - q[j]) ** 2
        elif q[j] > jnt[j, J_QMAX]:
            e += 0.5 * jnt[j, J_KLIM] * (q[j] - jnt[j, J_QMAX]) ** 2
    for f in range(fing_i.shape[0]):
        jr, nfl = fing_i[f, 0], fing_i[f, 1]
        for ci in range(fing_i[f, 5], fing_i[f, 5] + fing_i[f, 6]):
            px, py, pz = contact_point(f, ci, jr, nfl, fing_i, fing_f, cpt_i, cpt_f, q)
            phi_c, nx, ny, nz = sdf(obj, px, py, pz)
            d = contact[0] - phi_c
            if d > 0.0:
                e += 0.5 * contact[1] * d * d
                if cst[ci, 3] > 0.0:
                    dx, dy, dz = px - cst[ci, 0], py - cst[ci, 1], pz - cst[ci, 2]
                    dn = dx * nx + dy * ny + dz * nz
                    dx, dy, dz = dx - dn * nx, dy - dn * ny, dz - dn * nz
                    e += 0.5 * contact[4] * (dx * dx + dy * dy + dz * dz)
    return e


@njit(cache=False, inline="always", error_model="numpy")
def contact_point(f: int, ci: int, jr: int, nfl: int, fing_i: np.ndarray, fing_f: np.ndarray,
                  cpt_i: np.ndarray, cpt_f: np.ndarray, q: np.ndarray) -> tuple[float, float, float]:
    """Palm-frame position [m] of contact point ``ci`` of finger ``f`` (same kinematics as the step)."""
    ax, ay, az = fing_f[f, 3], fing_f[f, 4], fing_f[f, 5]
    bx, by, bz = fing_f[f, 6], fing_f[f, 7], fing_f[f, 8]
    if jr >= 0:
        ax, ay, az, bx, by, bz = _rotate_plane(ax, ay, az, bx, by, bz, fing_f[f, 9], fing_f[f, 10],
                                               fing_f[f, 11], q[jr])
    link = cpt_i[ci, 1]
    px, py, pz = fing_f[f, 0], fing_f[f, 1], fing_f[f, 2]
    phi = 0.0
    for li in range(link + 1):
        phi += q[fing_i[f, 2 + li]]
        ll = fing_f[f, 15 + li] * (cpt_f[ci] if li == link else 1.0)
        c, s = math.cos(phi), math.sin(phi)
        px += ll * (c * ax + s * bx)
        py += ll * (c * ay + s * by)
        pz += ll * (c * az + s * bz)
    return px, py, pz
