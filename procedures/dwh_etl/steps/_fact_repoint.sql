-- Late-arriving dimension versions (attack 15b): a fact row keeps the surrogate key of the dimension
-- version valid at its event when it was loaded. When a version arrives later whose validity covers
-- events already loaded (a customer change committed late with an old change time: the dimension
-- splits the history correctly, dwh_etl.apply_dimension), those rows pointed at the older version for
-- good (until a restatement or a rebuild), and marts by that dimension's attributes (sales'
-- agg_daily_sales by segment) were wrong day by day.
-- Called by dwh_etl.step_fact after its write, once per as-of lookup (p_lookup: {"dimension": table,
-- "surrogate_key", "natural_key": [dimension columns], "key": the fact's column, "at": the fact's event
-- column}): the natural keys with a version loaded since p_since (the fact step's window start: each
-- version is seen by the first fact run after its load), their fact rows whose event lies in a new
-- version's reach (at or after the earliest new version's start; every row of the key when a new
-- version became its first, which an earlier event takes), each resolved again to the version valid at
-- its event with the same rule as the load (the latest that started at or before it; an event before
-- the first version, or without a time, takes the first), and the rows whose key differs re-pointed
-- (with _batch_id and _loaded_at when the table has them). The old and new values of the touched rows
-- go to the step's affected queues (p_queues, as the write does), so the marts recompute their dates
-- and keys. Set-based: one statement per lookup; the rows are found through the dimension's key and the
-- fact's index on its dimension key. p_lookup's "max_event" (optional): the latest event time of the rows
-- loaded before (dwh_etl.step_fact keeps it as the mark '<target>#<at column>'): a key whose new versions
-- all start after it is not probed. Returns the rows re-pointed.
CREATE OR REPLACE FUNCTION dwh_etl._fact_repoint(
    p_target  regclass,
    p_nk      text[],
    p_lookup  jsonb,
    p_since   timestamptz,
    p_queues  jsonb,
    p_batch   uuid,
    p_run_id  bigint
)
RETURNS bigint
LANGUAGE plpgsql
-- jit off: the statements are priced on the whole fact (its cost passes jit_above_cost) but read a few
-- thousand rows through indexes; compiling them cost ~70 ms a call (issue 15: where it hurts)
SET jit = off
SET search_path = dwh_etl, pg_temp
AS $$
DECLARE
    v_dim    regclass := to_regclass(p_lookup->>'dimension');
    v_sk     text := p_lookup->>'surrogate_key';
    v_dnk    text[] := ARRAY(SELECT jsonb_array_elements_text(p_lookup->'natural_key'));
    v_key    text := p_lookup->>'key';
    v_at     text := p_lookup->>'at';
    v_set    text;
    v_queues text := '';
    v_qitem  jsonb;
    v_i      integer := 0;
    v_n      bigint;
BEGIN
    SELECT format('%I = m.new_k', v_key)
           || CASE WHEN bool_or(a.attname = '_batch_id') THEN ', _batch_id = $2' ELSE '' END
           || CASE WHEN bool_or(a.attname = '_loaded_at') THEN ', _loaded_at = now()' ELSE '' END
    INTO v_set
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_target AND a.attnum > 0 AND NOT a.attisdropped;
    FOR v_qitem IN SELECT e FROM jsonb_array_elements(p_queues) AS e LOOP
        v_i := v_i + 1;
        v_queues := v_queues || format(
            E',\nq%1$s AS (INSERT INTO %2$s (%3$I, run_id)\n  SELECT u.%3$I, $3 FROM upd AS u%4$s\n  ON CONFLICT DO NOTHING)',
            v_i, to_regclass(v_qitem->>'table'), v_qitem->>'column',
            CASE WHEN v_qitem->>'column' = v_key THEN E'\n  UNION SELECT u._dwh_old_key, $3 FROM upd AS u' ELSE '' END);
    END LOOP;
    -- the versions of the keys with a version loaded since p_since, each with its validity range (cut
    -- from one ordering, the load's rule), the earliest new start of its key (since) and whether a new
    -- version became the key's first; staged and analyzed, so the fact rows are found by the fact's
    -- index on the dimension key (the planner took the dimension's recent rows for one and nested the
    -- whole fact under them: 28 s for 510 changed customers at scale 1)
    EXECUTE 'DROP TABLE IF EXISTS pg_temp._fact_repoint_ranges';
    EXECUTE format($q$
        CREATE TEMP TABLE _fact_repoint_ranges ON COMMIT DROP AS
        SELECT x.*, min(x._from) OVER (PARTITION BY %3$s) >= x.since AS first_new
        FROM (SELECT %1$s, r.%4$I AS k, r.valid_from AS _from,
                     lag(r.valid_from) OVER w IS NULL AS _first, lead(r.valid_from) OVER w AS _to,
                     r._loaded_at >= $1 AS _new,
                     min(r.valid_from) FILTER (WHERE r._loaded_at >= $1) OVER (PARTITION BY %1$s) AS since
              FROM %2$s AS r
              WHERE (%1$s) IN (SELECT %5$s FROM %2$s AS d WHERE d._loaded_at >= $1)
              WINDOW w AS (PARTITION BY %1$s ORDER BY r.valid_from, r.%4$I)) AS x
        $q$,
        dwh_etl._col_list(v_dnk, 'r'), v_dim, dwh_etl._col_list(v_dnk, 'x'), v_sk, dwh_etl._col_list(v_dnk, 'd'))
    USING p_since;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n = 0 THEN
        EXECUTE 'DROP TABLE pg_temp._fact_repoint_ranges';
        RETURN 0;
    END IF;
    EXECUTE 'ANALYZE pg_temp._fact_repoint_ranges';
    -- each version's fact rows (cur: the version a row points at now), resolved again against the
    -- versions of the same key (n)
    EXECUTE format($q$
        WITH moved AS (
            SELECT %1$s, f.%2$I AS old_k, n.k AS new_k
            -- the rows of the versions whose range reached the earliest new start (an older one's
            -- events all lie before it), or of every version when a new one became the key's first;
            -- not those of a new current version (rows resolved with it in place: nothing newer can
            -- take them), unless a new version became the key's first before it: rows that took it as
            -- the key's first version (an event before its start) were resolved without that one (it
            -- can be "new" and already used: a run whose window an open transaction held back sees
            -- versions committed after its window's end; review 15). Each probed through the fact's
            -- index on the key (LATERAL, OFFSET 0: not hashed over a scan of the whole fact, which the
            -- planner preferred for a few thousand rows)
            -- A key whose new versions all start after the latest event loaded before (p_lookup's
            -- max_event: every row loaded has an earlier event) has no row they reach, unless one became
            -- its first: not probed (the usual daily change, valid from about now, costs nothing).
            FROM (SELECT * FROM pg_temp._fact_repoint_ranges AS c
                  WHERE (NOT (c._new AND c._to IS NULL) OR (c.first_new AND NOT c._first))
                    AND (c._to IS NULL OR c._to >= c.since OR c.first_new)
                    AND (c.first_new OR $4::timestamptz IS NULL OR c.since <= $4)) AS cur
            CROSS JOIN LATERAL (SELECT f.* FROM %3$s AS f
                                WHERE f.%2$I = cur.k
                                  AND (f.%5$I >= cur.since OR f.%5$I IS NULL OR cur.first_new)
                                OFFSET 0) AS f
            JOIN pg_temp._fact_repoint_ranges AS n
              ON %4$s
             AND (f.%5$I >= n._from OR n._first)
             AND (f.%5$I < n._to OR n._to IS NULL OR (f.%5$I IS NULL AND n._first))
             AND n.k <> cur.k
        ),
        upd AS (
            UPDATE %3$s AS f
            SET %6$s
            FROM moved AS m
            WHERE %7$s AND f.%2$I = m.old_k
            RETURNING f.*, m.old_k AS _dwh_old_key
        )%8$s
        SELECT count(*) FROM upd
        $q$,
        dwh_etl._col_list(p_nk, 'f'), v_key, p_target, dwh_etl._join_cond(v_dnk, 'n', 'cur'), v_at,
        v_set, dwh_etl._join_cond(p_nk, 'f', 'm'), v_queues)
    INTO v_n
    USING p_since, p_batch, p_run_id, (p_lookup->>'max_event')::timestamptz;
    EXECUTE 'DROP TABLE pg_temp._fact_repoint_ranges';
    RETURN v_n;
END;
$$;
COMMENT ON FUNCTION dwh_etl._fact_repoint(regclass, text[], jsonb, timestamptz, jsonb, uuid, bigint) IS 'Fact rows of natural keys with dimension versions loaded since p_since, re-pointed at the version valid at their event (late-arriving dimension changes), their old and new values queued; returns the rows re-pointed (dwh_etl.step_fact).';
REVOKE EXECUTE ON FUNCTION dwh_etl._fact_repoint(regclass, text[], jsonb, timestamptz, jsonb, uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_etl._fact_repoint(regclass, text[], jsonb, timestamptz, jsonb, uuid, bigint) TO etl_service;
