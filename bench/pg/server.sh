# The durable PostgreSQL 15 of the bench scripts (bench/run.sh pg and the
# -pg drainers of bench/peers/kafka_drain.sh). Sourced: it uses the caller's
# work, bin, pin_p and pids, and holds fd 6 open while the server runs.
PSQL=/usr/lib/postgresql/15/bin/psql

pg_server_start() { # -> PGURL, PGPID (the postmaster); on $pin_p's CPU, fsync on, until fd 6 closes
  rm -f "$work/pgfifo"; mkfifo "$work/pgfifo"
  $pin_p "$bin/bench/pg/hl_pg_server" <"$work/pgfifo" >"$work/pg.out" 2>"$work/pg.err" &
  pids+=($!)
  exec 6>"$work/pgfifo"
  for _ in $(seq 1 600); do grep -q '^pid ' "$work/pg.out" && break; sleep 0.1; done
  PGURL=$(awk '/^url /{print $2; exit}' "$work/pg.out"); PGPID=$(awk '/^pid /{print $2; exit}' "$work/pg.out")
  [ -n "$PGURL" ] && [ -n "$PGPID" ] || { echo "PostgreSQL did not start: $(cat "$work/pg.err")" >&2; exit 1; }
}

pg_tables_empty() { # every table of hookloop's emptied (the schema version kept), so that each run starts alike
  "$PSQL" -qX "$PGURL" -v ON_ERROR_STOP=1 >/dev/null 2>"$work/psql.err" <<'SQL'
DO $$ DECLARE t text; BEGIN
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'hookloop_schema_version' LOOP
    EXECUTE 'TRUNCATE ' || quote_ident(t) || ' CASCADE';
  END LOOP;
END $$;
SQL
}
