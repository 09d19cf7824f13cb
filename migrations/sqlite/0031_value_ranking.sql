-- Value ranking at scale (issue #18): the recompute ranks in SQL and writes only what changed;
-- each ranking leaves a snapshot (the Pareto curve, tiers, the revenue cuts of vip and key) that
-- the value report reads and that a new order is tiered against at once.
ALTER TABLE customer_value ADD COLUMN top_percent INTEGER NOT NULL DEFAULT 0;
CREATE INDEX customer_value_revenue ON customer_value (revenue_minor);
-- The window's totals per customer read this index alone, in customer order (no table lookups,
-- no sort for the grouping).
CREATE INDEX orders_value ON orders (customer_id, ordered_at, status, amount_minor);

CREATE TABLE value_snapshots (
    id INTEGER PRIMARY KEY,
    computed_at INTEGER NOT NULL,
    window_from INTEGER NOT NULL,
    window_to INTEGER NOT NULL,
    data TEXT NOT NULL
);
