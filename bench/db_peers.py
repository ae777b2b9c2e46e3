"""The Python peers of bench/run_db.sh: rows of a CSV file (no header) into a
table through psycopg2, in one transaction; prints the seconds taken.

    python3 db_peers.py batch|each URL TABLE CSV

batch: psycopg2.extras.execute_batch (pages of 100 statements a round trip).
each:  one INSERT a round trip (cursor.execute per row).
"""
import csv
import sys
import time

import psycopg2
import psycopg2.extras


def main():
    kind, url, table, path = sys.argv[1:5]
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    ncols = len(rows[0])
    sql = "INSERT INTO %s VALUES (%s)" % (table, ", ".join(["%s"] * ncols))
    conn = psycopg2.connect(url)
    t0 = time.perf_counter()
    with conn:
        with conn.cursor() as cur:
            if kind == "batch":
                psycopg2.extras.execute_batch(cur, sql, rows)
            else:
                for r in rows:
                    cur.execute(sql, r)
    print("%.3f" % (time.perf_counter() - t0))
    conn.close()


main()
