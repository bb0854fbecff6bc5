"""The agents area on the step kinds (issues 11 and 10): the steps registered in procedures/registry/agents.sql
run the area end to end in `daily` (extract, silver over the typing views, the SCD dimensions, the
conversation dimension, three facts with inferred members, the conversation counters and the daily
aggregate of the affected days only).

The agents-only warehouse is built once per module (`agents_loaded_template`: generated at scale 0.01,
`daily` run for today); each test gets its own clone of it."""

from __future__ import annotations

import datetime as dt
import decimal

import psycopg
import pytest

from conftest import database_template, disable_other_areas
from test_agents_foundation import SEED_QUERY_1, SEED_QUERY_2, SEED_QUERY_3

RUN_DAILY = "CALL dwh_etl.run_pipeline(p_pipeline => 'daily', p_run_date => CURRENT_DATE, p_run_id => NULL)"

AGENTS_TABLES = ["agents_src.agents", "agents_src.users", "agents_src.conversations", "agents_src.agent_queries",
                 "agents_src.agent_approvals", "agents_src.agent_feedback",
                 "bronze.agents_agents", "bronze.agents_users", "bronze.agents_conversations",
                 "bronze.agents_agent_queries", "bronze.agents_agent_approvals", "bronze.agents_agent_feedback",
                 "silver.agents_agents", "silver.agents_users", "silver.agents_conversations",
                 "silver.agents_agent_queries", "silver.agents_agent_approvals", "silver.agents_agent_feedback",
                 "agents.dim_agent", "agents.dim_user", "agents.dim_conversation", "agents.fact_agent_query",
                 "agents.fact_approval", "agents.fact_training", "agents.agg_agent_daily_performance"]


def scalar(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


def rows(conn, sql, params=None):
    return conn.execute(sql, params).fetchall()


def only_agents(conn):
    conn.execute("UPDATE dwh_etl.steps SET is_enabled = false WHERE area NOT IN ('agents', 'engine')")
    conn.execute("UPDATE dwh_etl.quality_rules SET is_enabled = false WHERE area IS DISTINCT FROM 'agents'")


def last_run(conn, pipeline="daily"):
    return rows(conn, """SELECT r.status, array_agg(s.step_name || ':' || s.status || COALESCE(':' || s.error_message, '') ORDER BY s.step_order)
                         FROM dwh_lineage.pipeline_runs AS r JOIN dwh_lineage.step_runs AS s USING (run_id)
                         WHERE r.run_id = (SELECT max(run_id) FROM dwh_lineage.pipeline_runs WHERE pipeline_name = %s)
                         GROUP BY r.status""", (pipeline,))[0]


def run_daily(conn):
    conn.execute(RUN_DAILY)
    status, steps = last_run(conn)
    assert status == "completed", steps
    return steps


@database_template(scope="module")
def agents_loaded_template(conn):
    """Only the agents area: its demo source generated (scale 0.01, seed 0.42) and `daily` run once."""
    only_agents(conn)
    conn.execute("CALL agents_src.generate(p_scale => 0.01, p_seed => 0.42)")
    conn.execute(RUN_DAILY)


@pytest.fixture
def loaded(agents_loaded_template, conn):
    return conn


def test_daily_loads_every_agents_table(loaded):
    status, steps = last_run(loaded)
    assert status == "completed", steps
    for table in AGENTS_TABLES:
        assert scalar(loaded, f"SELECT count(*) FROM {table}") > 0, table
