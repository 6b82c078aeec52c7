#!/usr/bin/env python3
"""A synthetic emergency-call log with what is known to hold for real ones, for the hourly
forecast tests (the real hourly log the targets are checked on is not shared, on purpose).

One row per call: `call_time` (local ISO 8601 with its offset, Europe/Berlin unless --zone) and
`type`. The hourly rate is   level(t) · yearly(t) · profile(hour of week) · shock(day) · shock(hour):
  - profile: night trough around 05:00 (~0.35 of the mean), day peak 17–19 h (~1.5), busier Friday and
    Saturday nights, quieter Sunday mornings;
  - level: a slow random walk in log (σ 0.4 %/day) around --mean calls/hour, a yearly wave ±8 %;
  - day shocks: log-AR(1) with φ 0.6, σ 0.07 (heat, storms); a few rare surge days (+40…150 %);
  - hour noise: negative binomial (size --size, i.e. over-dispersed beyond Poisson).
Deterministic for a --seed. Writes CSV to stdout.
"""
import argparse, datetime, math, sys
import numpy as np
try:
    from zoneinfo import ZoneInfo
except ImportError:  # pragma: no cover
    ZoneInfo = None

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--mean", type=float, default=12.0)
    ap.add_argument("--size", type=float, default=40.0)
    ap.add_argument("--start", default="2024-01-01")
    ap.add_argument("--zone", default="Europe/Berlin")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    zone = ZoneInfo(a.zone)
    start = datetime.datetime.fromisoformat(a.start).replace(tzinfo=zone).astimezone(datetime.timezone.utc)
    hours = a.weeks * 168
    # profile by local hour of week
    base = np.array([0.55, 0.48, 0.42, 0.38, 0.36, 0.35, 0.45, 0.7, 0.95, 1.1, 1.2, 1.25, 1.3, 1.3, 1.3, 1.35, 1.45, 1.5, 1.5, 1.4, 1.25, 1.1, 0.9, 0.7])
    prof = np.zeros(168)
    for d in range(7):
        p = base.copy()
        if d in (4, 5):  # Friday, Saturday: busier late evening
            p[20:] *= 1.25
        if d in (5, 6):  # Saturday, Sunday: busier small hours (the night before), quieter mornings
            p[0:5] *= 1.35; p[6:10] *= 0.8
        prof[d * 24:(d + 1) * 24] = p
    prof /= prof.mean()
    days = a.weeks * 7 + 2
    walk = np.cumsum(rng.normal(0, 0.004, days))
    shock = np.zeros(days)
    for i in range(1, days):
        shock[i] = 0.6 * shock[i - 1] + rng.normal(0, 0.07)
    surge = np.zeros(days)
    for i in rng.choice(days, size=max(1, days // 120), replace=False):
        surge[i] = math.log(1 + rng.uniform(0.4, 1.5))
    out = sys.stdout
    out.write("call_time,type\n")
    types = ["RD", "RD", "RD", "RD", "F", "TH", "RD", "RD", "Sonstige"]
    for h in range(hours):
        t = start + datetime.timedelta(hours=h)
        local = t.astimezone(zone)
        d = (local.date() - start.astimezone(zone).date()).days
        how = local.weekday() * 24 + local.hour
        doy = local.timetuple().tm_yday
        rate = a.mean * math.exp(walk[d] + shock[d] + surge[d]) * (1 + 0.08 * math.sin(2 * math.pi * (doy - 100) / 365.25)) * prof[how]
        lam = rng.gamma(a.size, rate / a.size)
        n = rng.poisson(lam)
        for _ in range(n):
            s = local + datetime.timedelta(seconds=float(rng.uniform(0, 3600)))
            out.write(f"{s.isoformat(timespec='seconds')},{types[rng.integers(len(types))]}\n")

if __name__ == "__main__":
    main()
