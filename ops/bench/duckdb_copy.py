#!/usr/bin/env python3
"""The peer of `florian bench export`: DuckDB's COPY … TO … (FORMAT parquet) of the same rows.

Loads the rows Florian wrote (PARQUET) into an in-memory DuckDB table (not timed), checks the row
count, then times COPY t TO … (FORMAT parquet) with the given compression, for DuckDB's default
thread count and for one thread. Prints one line per run: `duckdb threads=T compression=C rows=N
seconds=S`.
"""
import sys, time, os, duckdb

def main():
    src, out_dir, rows, compression = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{src}')")
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    if n != rows:
        print(f"duckdb read {n} rows of {src}, expected {rows}", file=sys.stderr)
        sys.exit(1)
    default_threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    for threads in sorted({int(default_threads), 1}, reverse=True):
        con.execute(f"SET threads = {threads}")
        target = os.path.join(out_dir, f"duckdb-{threads}.parquet")
        best = None
        for _ in range(2):
            if os.path.exists(target):
                os.remove(target)
            t0 = time.perf_counter()
            con.execute(f"COPY t TO '{target}' (FORMAT parquet, COMPRESSION {compression})")
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        print(f"duckdb threads={threads} compression={compression} rows={n} seconds={best:.4f} bytes={os.path.getsize(target)}")

if __name__ == "__main__":
    main()
