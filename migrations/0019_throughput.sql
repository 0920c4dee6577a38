-- Throughput (issue 15). indicator_values (dbt) finds the feature rows (re)computed since its previous
-- build from this index (a range scan of computed_at), instead of hashing the values of every feature row.
CREATE INDEX feature_rows_computed_at_idx ON ml.feature_rows (computed_at);
