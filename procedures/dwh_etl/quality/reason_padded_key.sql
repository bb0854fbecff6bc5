-- The reason a text natural key cannot load because of its surrounding white space, or NULL. For the
-- typing views that trim keys (agents: agent_name, user_id, conversation_id; their references are
-- trimmed too, so ' data' in a query still finds the agent 'data'): two source records whose keys differ
-- only by such white space ('helper' and 'helper ', two primary keys of agents_src.agents) became one
-- natural key in silver, the later silently replaced the other, and the tombstone of one (its key kept
-- the space) was never applied (attack 9a). A key is loaded only as the source wrote it, so a key with
-- white space around it (any Unicode space, dwh_etl.try_trim) is quarantined with this reason: a loaded
-- key is always the source's key as written (and trimmed), no record can take another's place, and a
-- tombstone matches the loaded key exactly. A blank value gives NULL (the view's "is missing" says why).
-- Why not keep both keys apart: the references must stay matched trimmed ('c1' || U+00A0 in a feedback row
-- finds the conversation 'c1'), and a key kept as written could then never be reached by them. The views
-- also quarantine a reference that is exactly such a refused key (it would count for the other record);
-- one that reached silver before its padded record reached bronze stays with the trimmed key.
-- The engine's own typing ("typing": "engine", citizen's portal tables) keeps text keys as written and
-- never trims them, nor their references nor tombstones: two such keys stay two records there.
-- STABLE, not IMMUTABLE: format() is STABLE (see dwh_etl.reason_text), and STABLE lets it be inlined.
CREATE OR REPLACE FUNCTION dwh_etl.reason_padded_key(
    p_column text,
    p_value  text
)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
-- No SET clause: it would stop the planner from inlining this into set-based loads (names are qualified).
AS $$
    SELECT CASE WHEN p_value <> dwh_etl.try_trim(p_value)
                THEN format('%1$s %2$s has white space around it: %1$s values are matched trimmed, so it would be merged with %3$s (another record of the source, or one that may come); not loaded',
                            p_column, dwh_etl.quote_value(p_value), dwh_etl.quote_value(dwh_etl.try_trim(p_value)))
           END;
$$;
COMMENT ON FUNCTION dwh_etl.reason_padded_key(text, text) IS 'Why a text natural key with leading or trailing (Unicode) white space cannot load where keys and their references are matched trimmed, or NULL (also for a blank value).';
