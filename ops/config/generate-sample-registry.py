#!/usr/bin/env python3
"""Generates ops/config/frankfurt-registry.json, the SAMPLE registry for tests and demos.

Modelled on Frankfurt am Main (10 Feuer- und Rettungswachen, 26 volunteer brigades, the 46
Stadtteile) but invented: units, RICs, ZVEI addresses. Each Stadtteil's station order
(Ausrueckefolge) is the 12 stations nearest to a rough centre point (volunteer brigades
slightly behind professional stations at equal distance); that centre is also the area's
`centre`, to which incidents reported by coordinates are mapped. Usage:

    python3 ops/config/generate-sample-registry.py > ops/config/frankfurt-registry.json
"""
import json, math
# Approximate Stadtteil centres (lat, lon) — rough, for ordering only.
areas = {
 "Altstadt": (50.1106, 8.6820), "Innenstadt": (50.1143, 8.6790), "Bahnhofsviertel": (50.1070, 8.6660),
 "Westend-Süd": (50.1150, 8.6600), "Westend-Nord": (50.1270, 8.6650), "Nordend-West": (50.1280, 8.6830),
 "Nordend-Ost": (50.1270, 8.6990), "Ostend": (50.1130, 8.7080), "Bornheim": (50.1310, 8.7130),
 "Gutleutviertel": (50.1020, 8.6600), "Gallus": (50.1030, 8.6370), "Bockenheim": (50.1230, 8.6370),
 "Sachsenhausen-Nord": (50.1020, 8.6850), "Sachsenhausen-Süd": (50.0850, 8.6800), "Flughafen": (50.0380, 8.5620),
 "Oberrad": (50.0990, 8.7200), "Niederrad": (50.0820, 8.6350), "Schwanheim": (50.0850, 8.5800),
 "Griesheim": (50.0960, 8.6020), "Rödelheim": (50.1250, 8.6080), "Hausen": (50.1370, 8.6250),
 "Praunheim": (50.1470, 8.6200), "Heddernheim": (50.1580, 8.6420), "Niederursel": (50.1650, 8.6200),
 "Ginnheim": (50.1430, 8.6480), "Dornbusch": (50.1430, 8.6700), "Eschersheim": (50.1550, 8.6580),
 "Eckenheim": (50.1500, 8.6880), "Preungesheim": (50.1560, 8.7000), "Bonames": (50.1820, 8.6650),
 "Berkersheim": (50.1720, 8.7080), "Riederwald": (50.1230, 8.7320), "Seckbach": (50.1420, 8.7270),
 "Fechenheim": (50.1180, 8.7590), "Höchst": (50.1000, 8.5450), "Nied": (50.1030, 8.5750),
 "Sindlingen": (50.0780, 8.5120), "Zeilsheim": (50.0920, 8.5050), "Unterliederbach": (50.1080, 8.5300),
 "Sossenheim": (50.1200, 8.5680), "Nieder-Erlenbach": (50.2030, 8.7110), "Kalbach-Riedberg": (50.1800, 8.6350),
 "Harheim": (50.1850, 8.6880), "Nieder-Eschbach": (50.1980, 8.6620), "Bergen-Enkheim": (50.1540, 8.7600),
 "Frankfurter Berg": (50.1680, 8.6780),
}
# Professional Feuer- und Rettungswachen (FRW): id, name, area.
frw = [
 ("FRW1", "Feuer- und Rettungswache 1", "Innenstadt"), ("FRW2", "Feuer- und Rettungswache 2", "Sachsenhausen-Süd"),
 ("FRW3", "Feuer- und Rettungswache 3", "Nordend-Ost"), ("FRW4", "Feuer- und Rettungswache 4", "Bockenheim"),
 ("FRW5", "Feuer- und Rettungswache 5", "Niederrad"), ("FRW6", "Feuer- und Rettungswache 6", "Eschersheim"),
 ("FRW7", "Feuer- und Rettungswache 7", "Bergen-Enkheim"), ("FRW8", "Feuer- und Rettungswache 8", "Fechenheim"),
 ("FRW10", "Feuer- und Rettungswache 10", "Nieder-Eschbach"), ("FRW11", "Feuer- und Rettungswache 11", "Höchst"),
]
frw_units = {
 "FRW1": ["ELW", "HLF", "HLF", "DLK", "RW", "TLF", "RTW", "RTW", "NEF", "GW-G"],
 "FRW2": ["HLF", "HLF", "DLK", "MZB", "RTW", "RTW", "NEF"],
 "FRW3": ["ELW", "HLF", "HLF", "DLK", "TLF", "RTW", "RTW"],
 "FRW4": ["HLF", "HLF", "DLK", "RW", "RTW", "NEF"],
 "FRW5": ["ELW", "HLF", "HLF", "DLK", "RTW"],
 "FRW6": ["HLF", "HLF", "DLK", "TLF", "RTW", "NEF"],
 "FRW7": ["HLF", "HLF", "DLK", "RTW"],
 "FRW8": ["ELW", "HLF", "HLF", "DLK", "RW", "RTW"],
 "FRW10": ["HLF", "HLF", "DLK", "RTW", "NEF"],
 "FRW11": ["ELW", "HLF", "HLF", "DLK", "TLF", "RTW", "RTW"],
}
# Volunteer brigades (Freiwillige Feuerwehr): area, units.
ff = [
 ("Bergen-Enkheim", ["LF", "TLF"]), ("Berkersheim", ["LF"]), ("Bonames", ["LF", "MTW"]), ("Eckenheim", ["LF"]),
 ("Eschersheim", ["LF", "MTW"]), ("Fechenheim", ["LF", "TLF"]), ("Griesheim", ["LF", "MTW"]), ("Harheim", ["LF"]),
 ("Heddernheim", ["LF"]), ("Höchst", ["LF", "TLF"]), ("Kalbach-Riedberg", ["LF"]), ("Nied", ["LF", "MTW"]),
 ("Nieder-Erlenbach", ["LF"]), ("Nieder-Eschbach", ["LF", "TLF"]), ("Niederrad", ["LF"]), ("Niederursel", ["LF"]),
 ("Oberrad", ["LF", "MZB"]), ("Praunheim", ["LF"]), ("Rödelheim", ["LF", "TLF"]), ("Schwanheim", ["LF", "MZB"]),
 ("Seckbach", ["LF"]), ("Sindlingen", ["LF", "TLF"]), ("Sossenheim", ["LF"]), ("Unterliederbach", ["LF"]),
 ("Zeilsheim", ["LF"]), ("Sachsenhausen-Süd", ["LF", "MTW"]),
]
def short(area): return area.replace("Frankfurter ", "").replace(" ", "-")
def dist(a, b):
    (la1, lo1), (la2, lo2) = a, b
    x = (lo2 - lo1) * math.cos(math.radians((la1 + la2) / 2)); y = la2 - la1
    return math.hypot(x, y)

stations, units, groups, sirens = [], [], [], []
ric = 1_201_000
for sid, name, area in frw:
    gid = f"AG-{sid}"
    groups.append({"id": gid, "channel": "DME-FFM-1", "ric": ric, "function": "A", "station": sid}); ric += 8
    stations.append({"id": sid, "name": name, "kind": "professional", "area": area,
                     "line": {"supervisionSeconds": 10, "outputs": ["gong", "lights", "doors", "printer"]},
                     "fallbackGroups": [gid]})
    n = {}
    num = sid[3:]
    for t in frw_units[sid]:
        n[t] = n.get(t, 0) + 1
        units.append({"id": f"{num}-{t}-{n[t]}", "type": t, "station": sid, "groups": [], "sirens": []})
for k, (area, types) in enumerate(ff):
    sid = f"FF-{short(area)}"
    gid = f"AG-{sid}"
    channel = "DME-FFM-2" if k % 2 else "DME-FFM-1"
    groups.append({"id": gid, "channel": channel, "ric": ric, "function": "D", "station": sid}); ric += 8
    siren = f"S-{short(area)}"
    sirens.append({"id": siren, "zvei": f"{25100 + 11 * k:05d}", "area": area})
    stations.append({"id": sid, "name": f"Freiwillige Feuerwehr {area}", "kind": "volunteer", "area": area,
                     "fallbackGroups": []})
    n = {}
    for t in types:
        n[t] = n.get(t, 0) + 1
        units.append({"id": f"FF-{short(area)}-{t}" + (f"-{n[t]}" if types.count(t) > 1 else ""), "type": t, "station": sid,
                      "groups": [gid], "sirens": [siren] if t in ("LF", "TLF") else []})
pos = {s["id"]: areas[s["area"]] for s in stations}
area_list = []
for a, c in areas.items():
    order = sorted(pos, key=lambda s: (dist(c, pos[s]) + (0.004 if s.startswith("FF") else 0), s))
    area_list.append({"id": a, "stationOrder": order[:12], "centre": {"latE6": round(c[0] * 1e6), "lonE6": round(c[1] * 1e6)}})
aao = [
 {"keyword": "F1", "description": "Kleinbrand", "units": [{"type": "HLF", "count": 1}]},
 {"keyword": "F2", "description": "Mittelbrand", "units": [{"type": "ELW", "count": 1}, {"type": "HLF", "count": 2}, {"type": "DLK", "count": 1}]},
 {"keyword": "F2", "description": "Mittelbrand in enger Altstadtbebauung", "areas": ["Altstadt"],
  "units": [{"type": "ELW", "count": 1}, {"type": "HLF", "count": 2}, {"type": "DLK", "count": 2}]},
 {"keyword": "F3", "description": "Großbrand", "units": [{"type": "ELW", "count": 1}, {"type": "HLF", "count": 3}, {"type": "DLK", "count": 2},
   {"type": "TLF", "count": 1}, {"type": "LF", "count": 2}, {"type": "RTW", "count": 1}]},
 {"keyword": "F-BMA", "description": "Brandmeldeanlage ausgelöst", "units": [{"type": "HLF", "count": 1}, {"type": "DLK", "count": 1}]},
 {"keyword": "TH1", "description": "Technische Hilfe klein", "units": [{"type": "HLF", "count": 1}]},
 {"keyword": "TH-VU", "description": "Verkehrsunfall mit eingeklemmter Person", "units": [{"type": "HLF", "count": 1}, {"type": "RW", "count": 1},
   {"type": "RTW", "count": 1}, {"type": "NEF", "count": 1}]},
 {"keyword": "ABC1", "description": "Gefahrstoffaustritt klein", "units": [{"type": "ELW", "count": 1}, {"type": "HLF", "count": 2}, {"type": "GW-G", "count": 1}]},
 {"keyword": "WASS", "description": "Wasserrettung", "units": [{"type": "HLF", "count": 1}, {"type": "MZB", "count": 1}, {"type": "RTW", "count": 1}]},
]
alts = {"HLF": ["LF", "TLF"], "TLF": ["HLF", "LF"], "RW": ["HLF"], "LF": ["HLF", "TLF"]}
for r in aao:
    for u in r["units"]:
        if u["type"] in alts: u["alternatives"] = alts[u["type"]]
doc = {"notice": "SAMPLE DATA for tests and demos: modelled on Frankfurt am Main (10 Feuer- und Rettungswachen, 26 volunteer brigades, 46 Stadtteile) but not the Branddirektion's real registry - stations, units, RICs, ZVEI addresses and station orders are invented.",
       "timing": {"lineAckSeconds": 10, "pageAirSeconds": 60, "sirenAirSeconds": 60, "professionalAckSeconds": 90, "volunteerAckSeconds": 300, "leaseSeconds": 6},
       "channels": [{"id": "DME-FFM-1", "baud": 1200}, {"id": "DME-FFM-2", "baud": 1200}],
       "stations": stations, "units": units, "alertGroups": groups, "sirens": sirens, "areas": area_list, "aao": aao}
print(json.dumps(doc, ensure_ascii=False, indent=1))
