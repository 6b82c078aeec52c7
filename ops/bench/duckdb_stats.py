#!/usr/bin/env python3
"""The peer of `florian bench stats`: DuckDB's GROUP BY count and grouped quantile_cont.

Usage: duckdb_stats.py ROWS.parquet ROWS OUT_DIR

Loads the rows Florian wrote (columns category VARCHAR, area VARCHAR, hour INTEGER, resp DOUBLE)
into an in-memory DuckDB table (not timed) and checks the row count. Then, for DuckDB's default
thread count and for one thread, times each query best of 3, the timed work being
`con.execute(query)` plus fetching the result (`fetchall`, a few thousand rows):

  groupby:   SELECT category, area, hour, count(*) FROM t GROUP BY ALL
  quantiles: SELECT area, category, quantile_cont(resp, [0.5, 0.9]) FROM t GROUP BY ALL

Prints one line per run: `duckdb threads=T query=Q rows=N seconds=S groups=G`. Writes the answers
(of the last run) for Florian to check as tab-separated files OUT_DIR/duckdb-groupby.tsv
(category, area, hour, count) and OUT_DIR/duckdb-quantiles.tsv (area, category, p50, p90; floats
as Python's shortest round-trip repr).
"""
import os, sys, time, duckdb

QUERIES = {
    "groupby": "SELECT category, area, hour, count(*) FROM t GROUP BY ALL",
    "quantiles": "SELECT area, category, quantile_cont(resp, [0.5, 0.9]) FROM t GROUP BY ALL",
}


def main():
    src, rows, out_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{src}')")
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    if n != rows:
        print(f"duckdb read {n} rows of {src}, expected {rows}", file=sys.stderr)
        sys.exit(1)
    default_threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    answers = {}
    for threads in sorted({default_threads, 1}, reverse=True):
        con.execute(f"SET threads = {threads}")
        for name, query in QUERIES.items():
            best = None
            for _ in range(3):
                t0 = time.perf_counter()
                result = con.execute(query).fetchall()
                dt = time.perf_counter() - t0
                best = dt if best is None else min(best, dt)
            answers[name] = result
            print(f"duckdb threads={threads} query={name} rows={n} seconds={best:.4f} groups={len(result)}", flush=True)

    def field(v):
        s = v if isinstance(v, str) else repr(v)
        if "\t" in s or "\n" in s:
            raise SystemExit(f"field {s!r} holds a tab or newline")
        return s

    with open(os.path.join(out_dir, "duckdb-groupby.tsv"), "w") as f:
        for category, area, hour, count in answers["groupby"]:
            f.write("\t".join([field(category), field(area), str(hour), str(count)]) + "\n")
    with open(os.path.join(out_dir, "duckdb-quantiles.tsv"), "w") as f:
        for area, category, q in answers["quantiles"]:
            f.write("\t".join([field(area), field(category), repr(float(q[0])), repr(float(q[1]))]) + "\n")


if __name__ == "__main__":
    main()
