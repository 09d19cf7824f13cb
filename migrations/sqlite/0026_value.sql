-- Orders, value and tiers (issue #18). Amounts are integer minor units of their currency.
-- A tier set by hand is pinned: the recompute leaves it alone.
ALTER TABLE customers ADD COLUMN tier_pinned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN tier_reason TEXT NOT NULL DEFAULT '';

-- Orders from a shop or CRM, idempotent on their external id.
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    external_id TEXT NOT NULL UNIQUE,
    ordered_at INTEGER NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    product TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('placed', 'paid', 'shipped', 'completed', 'cancelled', 'refunded')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX orders_customer ON orders (customer_id, ordered_at);
CREATE INDEX orders_ordered_at ON orders (ordered_at);

-- The figures of the last recompute, for customers with orders in the window.
CREATE TABLE customer_value (
    customer_id INTEGER PRIMARY KEY REFERENCES customers(id),
    revenue_minor INTEGER NOT NULL,
    order_count INTEGER NOT NULL,
    last_order_at INTEGER NOT NULL,
    r INTEGER NOT NULL,
    f INTEGER NOT NULL,
    m INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    computed_at INTEGER NOT NULL
);

-- Every change of a customer's tier, with its reason.
CREATE TABLE customer_tier_history (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    from_tier TEXT NOT NULL,
    to_tier TEXT NOT NULL,
    reason TEXT NOT NULL,
    pinned INTEGER NOT NULL DEFAULT 0,
    by_user_id INTEGER REFERENCES users(id),
    changed_at INTEGER NOT NULL
);
CREATE INDEX customer_tier_history_customer ON customer_tier_history (customer_id, id);
