-- options.options_ranks is the widest write of the options domain (every contract twice: entry and exit
-- mode, ~35 columns), and most of its COPY went to constraint upkeep, not to the rows (benchmarks/options.py,
-- 40,000 contracts = 80,000 rank rows: 1.3 s as in 0020, 0.40 s with the primary key alone, 0.21 s with
-- no index). This migration keeps what protects the data and drops what only served a query:
--
-- * the row-level foreign key to market.symbols (a trigger firing and a lookup per row, ~0.55 s of the
--   1.3 s) becomes one statement-level check per COPY (a single anti-join against the inserted rows) and a
--   statement-level guard on market.symbols deletes: the same rule (no rank row without its underlying),
--   checked once per statement;
-- * the UNIQUE (underlying, day, mode, rank) constraint goes: rank is the writer's 1..n numbering of one
--   sort (swiftbolt/options/ranking.py), contracts stay unique per (underlying, day, mode) through the
--   primary key, and the one-row-per-rank rule is tested where it is read (dbt test
--   top_ranked_options_one_row_per_rank);
-- * options_ranks_top_idx goes: it served the top_ranked_options view, which is now a table rebuilt by the
--   daily dbt build (it reads each underlying's newest day through the primary key).

ALTER TABLE options.options_ranks DROP CONSTRAINT options_ranks_underlying_symbol_id_fkey;
ALTER TABLE options.options_ranks DROP CONSTRAINT options_ranks_underlying_symbol_id_snapshot_date_ranking_mo_key;
DROP INDEX options.options_ranks_top_idx;

CREATE FUNCTION options.options_ranks_underlying_exists() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT n.underlying_symbol_id INTO missing
    FROM written n
    WHERE NOT EXISTS (SELECT 1 FROM market.symbols s WHERE s.id = n.underlying_symbol_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "options_ranks" violates its underlying reference'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (underlying_symbol_id)=(%s) is not present in table "symbols".', missing);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER options_ranks_underlying_on_insert AFTER INSERT ON options.options_ranks
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION options.options_ranks_underlying_exists();
CREATE TRIGGER options_ranks_underlying_on_update AFTER UPDATE ON options.options_ranks
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION options.options_ranks_underlying_exists();

CREATE FUNCTION options.symbols_keep_ranked_underlyings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ranked bigint;
BEGIN
    SELECT o.id INTO ranked
    FROM removed o
    WHERE EXISTS (SELECT 1 FROM options.options_ranks r WHERE r.underlying_symbol_id = o.id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'update or delete on table "symbols" violates the underlying reference of "options_ranks"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "options_ranks".', ranked);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER symbols_keep_ranked_underlyings AFTER DELETE ON market.symbols
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION options.symbols_keep_ranked_underlyings();
