"""Attack 16: deletes in the citizen and devflow sources, through the real path (plain SQL on citizen_src /
devflow_src as the operational system would write it, then `daily`).

Before: citizen_src had no tombstones at all, so a user, service, content item or content source deleted
in the source stayed current in its dimension for good (extraction follows arrival, and a deleted row
never arrives again); devflow_src.worktree_states had none either (migration 0064 left it out), so a
deleted worktree stayed current in dim_worktree and kept labelling its issue's fact_issue_processing row.
Now (migration 0074) both leave tombstones, extracted into bronze, flagged in silver (is_deleted) and
applied to the dimensions as in the sales and agents areas: an SCD2 version closed at the deletion
(dim_user, dim_service, dim_content, dim_worktree: delete policy "close"); the Type 1 reference lists that
the facts look up by current version (dim_query_type, dim_language, dim_content_type, dim_content_source)
keep their one version per code (their tables allow no other) and are flagged deleted in silver only.
Facts are not affected: a deleted user's queries keep pointing at the version valid at the event.

The capture holds for: a delete and a re-insert of the key in one window (current again), a restore with
the old values, a key renamed by UPDATE, a DELETE rolled back, a TRUNCATE followed by a reload of all but
one row, a key deleted twice in one window, and the tombstones extracted again (a rewound watermark).

One world per module (fixture `world`: citizen at scale 0.01 for 2 days and a devflow day, 4 runs of
`daily`); the tests read its final state.
"""

from __future__ import annotations

import psycopg
import pytest

from conftest import cloned_database
from oracle_common import rows, run_daily, scalar


def versions(conn, table, key_col, key, cols=""):
    """(version, is_current, is_deleted, closed, *cols) of every version of a key, oldest first."""
    extra = "".join(f", {c}" for c in cols.split(",") if c.strip())
    return rows(conn, f"""SELECT version, is_current, is_deleted, valid_to IS NOT NULL{extra}
                          FROM {table} WHERE {key_col} = %s ORDER BY version""", (key,))


def live(conn, table, key_col, key):
    """The key has a current, not deleted version."""
    return scalar(conn, f"SELECT count(*) FROM {table} WHERE {key_col} = %s AND is_current AND NOT is_deleted", (key,)) == 1


def gold_dims(conn):
    out = {}
    for table in ("citizen.dim_user", "citizen.dim_service", "citizen.dim_content", "citizen.dim_content_source",
                  "citizen.dim_query_type", "devflow.dim_worktree"):
        out[table] = rows(conn, f"""SELECT (to_jsonb(t) - '_loaded_at' - '_batch_id')::text FROM {table} AS t ORDER BY 1""")
    out["fip"] = rows(conn, "SELECT issue_key, worktree_key FROM devflow.fact_issue_processing ORDER BY 1, 2")
    out["fsq"] = rows(conn, "SELECT count(*), count(DISTINCT user_key), sum(user_key) FROM citizen.fct_service_queries")
    return out


@pytest.fixture(scope="module")
def world(postgresql_proc):
    proc = postgresql_proc
    with cloned_database(proc, proc.template_dbname, "a16") as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('citizen', 'devflow', 'engine')")
        conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS NULL OR area NOT IN ('citizen', 'devflow')")
        conn.execute("CALL citizen_src.generate(p_scale => 0.01, p_days => 2, p_seed => 0.16)")
        conn.execute("CALL devflow_src.generate(p_days => 1, p_seed => 0.16)")
        run_daily(conn)
        w = {"conn": conn}

        # ---- window 1 ------------------------------------------------------------------------------
        # users with queries in the fact
        users = [r[0] for r in rows(conn, """SELECT u.user_id FROM citizen_src.users AS u
                                            WHERE EXISTS (SELECT 1 FROM citizen.fct_service_queries AS f
                                                          JOIN citizen.dim_user AS d USING (user_key) WHERE d.user_id = u.user_id)
                                            ORDER BY u.user_id LIMIT 7""")]
        assert len(users) == 7, users
        w["users"] = users
        u_del, u_restore, u_moved, u_rollback, u_rekey, u_twice, u_replica = users
        w["facts_of_deleted"] = scalar(conn, """SELECT count(*) FROM citizen.fct_service_queries AS f JOIN citizen.dim_user AS d
                                                USING (user_key) WHERE d.user_id = %s""", (u_del,))
        w["user_key_restored"] = scalar(conn, "SELECT user_key FROM citizen.dim_user WHERE user_id = %s AND is_current", (u_restore,))
        # a plain delete
        conn.execute("DELETE FROM citizen_src.users WHERE user_id = %s", (u_del,))
        # a restore from a backup: deleted and re-inserted as it was (its old updated_at), one window
        conn.execute("CREATE TABLE public.a16_saved AS SELECT * FROM citizen_src.users WHERE user_id = %s", (u_restore,))
        conn.execute("DELETE FROM citizen_src.users WHERE user_id = %s", (u_restore,))
        conn.execute("INSERT INTO citizen_src.users SELECT * FROM public.a16_saved")
        # deleted and re-inserted with another district, one window
        conn.execute("""CREATE TABLE public.a16_moved AS SELECT * FROM citizen_src.users WHERE user_id = %s""", (u_moved,))
        conn.execute("DELETE FROM citizen_src.users WHERE user_id = %s", (u_moved,))
        conn.execute("""INSERT INTO citizen_src.users (user_id, user_type, location_state, location_district, language_preference,
                            registration_date)
                        SELECT user_id, user_type, location_state, 'Reinserted 16', language_preference, registration_date
                        FROM public.a16_moved""")
        # a delete rolled back
        with conn.transaction():
            conn.execute("DELETE FROM citizen_src.users WHERE user_id = %s", (u_rollback,))
            raise psycopg.Rollback()
        # a key renamed
        w["u_rekey_new"] = 990_000_016
        conn.execute("UPDATE citizen_src.users SET user_id = %s WHERE user_id = %s", (w["u_rekey_new"], u_rekey))
        # a service and a content item with facts
        w["s_del"] = scalar(conn, """SELECT d.service_id FROM citizen.fct_service_queries AS f JOIN citizen.dim_service AS d
                                     USING (service_key) GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""")
        w["c_del"] = scalar(conn, """SELECT d.content_id FROM citizen.fct_content_usage AS f JOIN citizen.dim_content AS d
                                     USING (content_key) GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""")
        conn.execute("DELETE FROM citizen_src.services WHERE service_id = %s", (w["s_del"],))
        conn.execute("DELETE FROM citizen_src.contents WHERE content_id = %s", (w["c_del"],))
        # a reference list reloaded by TRUNCATE + INSERT, one source left out
        conn.execute("CREATE TABLE public.a16_sources AS SELECT * FROM citizen_src.content_sources")
        w["cs_del"] = scalar(conn, "SELECT max(source_name) FROM public.a16_sources")
        conn.execute("TRUNCATE citizen_src.content_sources")
        conn.execute("INSERT INTO citizen_src.content_sources SELECT * FROM public.a16_sources WHERE source_name <> %s", (w["cs_del"],))
        # a query type the events cite, deleted
        w["qt_del"] = scalar(conn, "SELECT min(query_type) FROM citizen_src.query_types")
        conn.execute("DELETE FROM citizen_src.query_types WHERE query_type = %s", (w["qt_del"],))

        # devflow: worktrees of issues with a processing row
        wts = rows(conn, """SELECT w.id, w.worktree_path, w.associated_issue_id FROM devflow_src.worktree_states AS w
                            WHERE EXISTS (SELECT 1 FROM devflow.fact_issue_processing AS f JOIN devflow.dim_worktree AS d
                                          USING (worktree_key) WHERE d.worktree_path = w.worktree_path)
                            ORDER BY w.id LIMIT 3""")
        assert len(wts) == 3, wts
        w["wts"] = wts
        (_, wt_del, _), (wt_restore_id, wt_restore, _), (_, wt_rename, _) = wts
        w["wt_restore_key"] = scalar(conn, "SELECT worktree_key FROM devflow.dim_worktree WHERE worktree_path = %s", (wt_restore,))
        conn.execute("DELETE FROM devflow_src.worktree_states WHERE worktree_path = %s", (wt_del,))
        conn.execute("CREATE TABLE public.a16_wt AS SELECT * FROM devflow_src.worktree_states WHERE id = %s", (wt_restore_id,))
        conn.execute("DELETE FROM devflow_src.worktree_states WHERE id = %s", (wt_restore_id,))
        conn.execute("INSERT INTO devflow_src.worktree_states SELECT * FROM public.a16_wt")
        w["wt_renamed"] = wt_rename + "-renamed"
        conn.execute("UPDATE devflow_src.worktree_states SET worktree_path = %s WHERE worktree_path = %s", (w["wt_renamed"], wt_rename))
        run_daily(conn)
        w["after1"] = {
            "u_del": versions(conn, "citizen.dim_user", "user_id", u_del),
            "wt_del": versions(conn, "devflow.dim_worktree", "worktree_path", wt_del),
            "fip_wt_del": scalar(conn, """SELECT count(*) FROM devflow.fact_issue_processing AS f JOIN devflow.dim_worktree AS d
                                          USING (worktree_key) WHERE d.worktree_path = %s""", (wt_del,)),
        }

        # ---- window 2 ------------------------------------------------------------------------------
        # the deleted user comes back
        conn.execute("""INSERT INTO citizen_src.users (user_id, user_type, location_state, location_district, language_preference,
                            registration_date) VALUES (%s, 'citizen', 'Kerala', 'Back 16', 'ml', '2024-01-01')""", (u_del,))
        # deleted twice in one window (delete, re-insert, delete)
        conn.execute("CREATE TABLE public.a16_twice AS SELECT * FROM citizen_src.users WHERE user_id = %s", (u_twice,))
        conn.execute("DELETE FROM citizen_src.users WHERE user_id = %s", (u_twice,))
        conn.execute("INSERT INTO citizen_src.users SELECT * FROM public.a16_twice")
        conn.execute("DELETE FROM citizen_src.users WHERE user_id = %s", (u_twice,))
        # a delete applied as a logical replication apply worker applies it (row triggers only)
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute("DELETE FROM citizen_src.users WHERE user_id = %s", (u_replica,))
        # worktrees reloaded by TRUNCATE + INSERT, one left out
        conn.execute("CREATE TABLE public.a16_wts AS SELECT * FROM devflow_src.worktree_states")
        w["wt_truncated"] = scalar(conn, "SELECT max(worktree_path) FROM public.a16_wts")
        conn.execute("TRUNCATE devflow_src.worktree_states")
        conn.execute("INSERT INTO devflow_src.worktree_states SELECT * FROM public.a16_wts WHERE worktree_path <> %s", (w["wt_truncated"],))
        run_daily(conn)
        w["gold2"] = gold_dims(conn)

        # ---- the tombstones extracted again, then a rerun ---------------------------------------
        for table in ("bronze.citizen_deleted_records", "bronze.devflow_deleted_records"):
            conn.execute("CALL dwh_etl.set_watermark(%s, '_dwh_arrived_at', now() - interval '1 day')", (table,))
        run_daily(conn)
        w["gold3"] = gold_dims(conn)
        run_daily(conn)
        w["gold4"] = gold_dims(conn)
        w["dims_skipped"] = scalar(conn, """SELECT sr.skipped_reason FROM dwh_lineage.step_runs AS sr
                                            WHERE sr.step_name = 'citizen_dimensions'
                                            ORDER BY sr.run_id DESC LIMIT 1""")
        yield w


# ---------------------------------------------------------------------------------------------------
# citizen
# ---------------------------------------------------------------------------------------------------

def test_a_deleted_user_is_closed_and_its_facts_stay(world):
    """DEFECT (high): citizen_src had no tombstones: a deleted user stayed current in dim_user for good.
    Now its version is closed at the deletion (delete policy close, as agents.dim_user), silver flags it,
    and its queries keep pointing at the version valid when they happened."""
    conn, u_del = world["conn"], world["users"][0]
    hist = world["after1"]["u_del"]
    assert [h[1] for h in hist] == [False] * len(hist) and hist[-1][3], hist
    # then re-created in a later window: a new current version after the deletion
    now = versions(conn, "citizen.dim_user", "user_id", u_del, "location_district")
    assert now[-1][1:3] == (True, False) and now[-1][4] == "Back 16", now
    assert [h[1] for h in now].count(True) == 1
    assert scalar(conn, """SELECT count(*) FROM citizen.fct_service_queries AS f JOIN citizen.dim_user AS d
                           USING (user_key) WHERE d.user_id = %s""", (u_del,)) == world["facts_of_deleted"]


def test_a_deleted_service_and_content_are_closed(world):
    """DEFECT (high): a deleted service or content item stayed current in dim_service / dim_content."""
    conn = world["conn"]
    assert not live(conn, "citizen.dim_service", "service_id", world["s_del"])
    assert versions(conn, "citizen.dim_service", "service_id", world["s_del"])[-1][3]
    assert not live(conn, "citizen.dim_content", "content_id", world["c_del"])
    assert versions(conn, "citizen.dim_content", "content_id", world["c_del"])[-1][3]
    assert scalar(conn, "SELECT is_deleted FROM silver.citizen_services WHERE service_id = %s", (world["s_del"],)) is True
    assert scalar(conn, "SELECT is_deleted FROM silver.citizen_contents WHERE content_id = %s", (world["c_del"],)) is True


def test_a_deleted_reference_code_is_flagged_in_silver_and_stays_in_gold(world):
    """DEFECT (low): a query type deleted in the source was not seen at all. Now silver flags it; gold's
    reference list keeps its one version (dim_query_type's version_ck: one open version per code) and the
    facts that cite it still resolve."""
    conn, qt = world["conn"], world["qt_del"]
    assert scalar(conn, "SELECT is_deleted FROM silver.citizen_query_types WHERE query_type = %s", (qt,)) is True
    assert rows(conn, "SELECT version, is_current FROM citizen.dim_query_type WHERE query_type = %s", (qt,)) == [(1, True)]
    assert scalar(conn, "SELECT count(*) FROM citizen.fct_service_queries WHERE query_type_key IS NULL") == 0


def test_a_truncated_and_reloaded_list_loses_only_the_row_left_out(world):
    """DEFECT (medium): TRUNCATE + INSERT of content_sources without one source: nothing was seen. Now the
    BEFORE TRUNCATE trigger tombstones every row; the rows inserted again arrived after their tombstone and
    stay as they were in silver (not deleted) and gold (one version); the one left out is flagged."""
    conn = world["conn"]
    assert rows(conn, "SELECT source_name FROM silver.citizen_content_sources WHERE is_deleted") == [(world["cs_del"],)]
    assert scalar(conn, "SELECT count(*) FROM citizen.dim_content_source WHERE is_deleted OR version <> 1 OR NOT is_current") == 0
    assert scalar(conn, "SELECT count(DISTINCT record_id) FROM citizen_src.deleted_records WHERE table_name = 'content_sources'") == \
        scalar(conn, "SELECT count(*) FROM silver.citizen_content_sources")


def test_a_user_deleted_and_reinserted_in_one_window_stays_current(world):
    """Held with the fix: a restore (the same row, its old updated_at) changes nothing: same surrogate key,
    one version; a re-insert with another district is the user's current version."""
    conn = world["conn"]
    _, u_restore, u_moved, *_ = world["users"]
    assert rows(conn, "SELECT user_key, version, is_deleted FROM citizen.dim_user WHERE user_id = %s AND is_current",
                (u_restore,)) == [(world["user_key_restored"], 1, False)]
    assert scalar(conn, "SELECT count(*) FROM citizen.dim_user WHERE user_id = %s", (u_restore,)) == 1
    assert rows(conn, "SELECT location_district, is_deleted FROM citizen.dim_user WHERE user_id = %s AND is_current",
                (u_moved,)) == [("Reinserted 16", False)]


def test_a_rolled_back_delete_leaves_no_tombstone(world):
    conn = world["conn"]
    u_rollback = world["users"][3]
    assert scalar(conn, "SELECT count(*) FROM citizen_src.deleted_records WHERE record_id = %s", (str(u_rollback),)) == 0
    assert live(conn, "citizen.dim_user", "user_id", u_rollback)


def test_a_renamed_key_closes_the_old_one(world):
    """DEFECT (medium): a user_id changed by UPDATE left the old key current next to the new one."""
    conn = world["conn"]
    assert not live(conn, "citizen.dim_user", "user_id", world["users"][4])
    assert live(conn, "citizen.dim_user", "user_id", world["u_rekey_new"])


def test_a_key_deleted_twice_in_one_window_is_deleted(world):
    conn = world["conn"]
    assert not live(conn, "citizen.dim_user", "user_id", world["users"][5])
    assert scalar(conn, "SELECT is_deleted FROM silver.citizen_users WHERE user_id = %s", (world["users"][5],)) is True


def test_a_delete_applied_by_replication_is_tombstoned_once(world):
    """The statement triggers do not fire for a replica's apply worker (session_replication_role replica,
    row triggers only): the ENABLE REPLICA row trigger tombstones the delete there, once."""
    conn, u_replica = world["conn"], world["users"][6]
    assert scalar(conn, "SELECT count(*) FROM citizen_src.deleted_records WHERE table_name = 'users' AND record_id = %s",
                  (str(u_replica),)) == 1
    assert not live(conn, "citizen.dim_user", "user_id", u_replica)


# ---------------------------------------------------------------------------------------------------
# devflow
# ---------------------------------------------------------------------------------------------------

def test_a_deleted_worktree_is_closed_and_leaves_its_issue(world):
    """DEFECT (medium): devflow_src.worktree_states had no tombstones (migration 0064 left it out): a
    deleted worktree stayed current in dim_worktree and kept labelling its issue's processing row. Now it
    is tombstoned by its path (silver's key), closed, and the issue's row no longer points at it."""
    hist = world["after1"]["wt_del"]
    assert hist and not any(h[1] for h in hist) and hist[-1][3], hist
    assert world["after1"]["fip_wt_del"] == 0


def test_a_worktree_restored_renamed_or_left_out_of_a_reload(world):
    conn = world["conn"]
    (_, _, _), (_, wt_restore, _), (_, wt_rename, _) = world["wts"]
    assert rows(conn, "SELECT worktree_key, is_current, is_deleted FROM devflow.dim_worktree WHERE worktree_path = %s",
                (wt_restore,)) == [(world["wt_restore_key"], True, False)]
    assert not live(conn, "devflow.dim_worktree", "worktree_path", wt_rename)
    assert live(conn, "devflow.dim_worktree", "worktree_path", world["wt_renamed"])
    assert not live(conn, "devflow.dim_worktree", "worktree_path", world["wt_truncated"])
    # the others reloaded after the TRUNCATE are as they were
    assert scalar(conn, """SELECT count(*) FROM devflow.dim_worktree AS d
                           WHERE d.worktree_path IN (SELECT worktree_path FROM devflow_src.worktree_states)
                             AND NOT (d.is_current AND NOT d.is_deleted)""") == 0


# ---------------------------------------------------------------------------------------------------
# delivered again
# ---------------------------------------------------------------------------------------------------

def test_tombstones_extracted_again_and_a_rerun_change_nothing(world):
    """Held with the fix: the tombstones of both windows extracted again (the watermark set back a day)
    delete nothing that came back after them, and a rerun changes nothing."""
    conn = world["conn"]
    # delivered twice: each tombstone of the restored user is twice in bronze
    assert rows(conn, """SELECT count(*), count(DISTINCT deleted_at) FROM bronze.citizen_deleted_records
                         WHERE table_name = 'users' AND record_id = %s""", (str(world["users"][1]),)) == [(2, 1)]
    assert world["gold3"] == world["gold2"]
    assert world["gold4"] == world["gold2"]
    # a run with nothing new leaves the dimensions out (runner.skip_unchanged): the tombstones reach them
    # through silver's is_deleted, so bronze's tombstone table is no source of theirs (declared, it made
    # the step run in every no-op: ~0.1 s at scale 1)
    assert (world["dims_skipped"] or "").startswith("unchanged: "), world["dims_skipped"]
