-- A stored query tree (pg_rewrite.ev_action of a view, a pg_node_tree) as jsonb, so SQL can walk it
-- (issue 16: which base columns a view's computed column is made of; pg_depend only says which columns
-- the whole view references). Nodes {NAME :field value ...} become {"_": "NAME", "field": [value, ...]}
-- (every field's value is an array: a few fields print as two tokens), lists ( ... ) arrays, <> null,
-- other tokens strings (a name with escaped characters stays encoded). The column names of range table
-- entries (:colnames) are left out (quoted names may hold spaces). Example:
--   SELECT dwh_lineage._node_tree_jsonb(ev_action::text)->0->'targetList'->0->0->'resname'
--   FROM pg_rewrite WHERE ev_class = 'sales.mv_customer_lifetime_value'::regclass;
CREATE OR REPLACE FUNCTION dwh_lineage._node_tree_jsonb(p_tree text)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
SET search_path = dwh_lineage, pg_temp
AS $$
    WITH tok AS (
        SELECT t.tok, t.o
        FROM regexp_split_to_table(
                 replace(replace(replace(replace(
                     -- escaped characters of names (\\ \  \( \) \{ \}) kept apart from the structure; a
                     -- name stays encoded, compared with itself only (ctename)
                     replace(replace(replace(replace(replace(replace(
                         regexp_replace(p_tree, ':colnames \((?:[^()"]|"(?:[^"\\]|\\.)*")*\)', ':colnames <>', 'g'),
                         '\\', chr(1) || 'b'), '\ ', chr(1) || 's'), '\(', chr(1) || 'o'), '\)', chr(1) || 'c'),
                         '\{', chr(1) || 'l'), '\}', chr(1) || 'r'),
                     '(', ' ( '), ')', ' ) '), '{', ' { '), '}', ' } '),
                 '\s+') WITH ORDINALITY AS t(tok, o)
        WHERE t.tok <> ''
    ),
    kinds AS (
        SELECT tok.tok, tok.o,
               CASE WHEN lag(tok.tok) OVER w = '{' THEN 'name'
                    WHEN tok.tok = '{' THEN 'node'
                    WHEN tok.tok ~ '^:[A-Za-z]' THEN 'key'
                    WHEN tok.tok IN ('}', ')', ']') THEN 'close'
                    WHEN tok.tok IN ('(', '[') THEN 'open'
                    ELSE 'atom' END AS kind
        FROM tok
        WINDOW w AS (ORDER BY tok.o)
    ),
    lagged AS (
        SELECT k.tok, k.o, k.kind, lag(k.kind) OVER (ORDER BY k.o) AS prev
        FROM kinds AS k
    )
    SELECT string_agg(
               CASE WHEN l.kind IN ('node', 'open', 'atom') AND l.prev IN ('atom', 'close') THEN ',' ELSE '' END
               || CASE l.kind
                      WHEN 'node' THEN '{'
                      WHEN 'name' THEN '"_":"' || l.tok || '"'
                      WHEN 'key' THEN CASE WHEN l.prev = 'name' THEN ',' ELSE '],' END || '"' || substr(l.tok, 2) || '":['
                      WHEN 'open' THEN '['
                      WHEN 'close' THEN CASE WHEN l.tok <> '}' THEN ']' WHEN l.prev = 'name' THEN '}' ELSE ']}' END
                      ELSE CASE WHEN l.tok = '<>' THEN 'null'
                                WHEN l.tok ~ '^[A-Za-z0-9_.+-]*$' THEN '"' || l.tok || '"'
                                ELSE to_json(l.tok)::text END
                  END,
               '' ORDER BY l.o)::jsonb
    FROM lagged AS l;
$$;
COMMENT ON FUNCTION dwh_lineage._node_tree_jsonb(text) IS 'A pg_node_tree (a view''s stored query) as jsonb: nodes as objects with "_" = node type and each field''s value as an array, lists as arrays.';
REVOKE EXECUTE ON FUNCTION dwh_lineage._node_tree_jsonb(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwh_lineage._node_tree_jsonb(text) TO etl_service;
