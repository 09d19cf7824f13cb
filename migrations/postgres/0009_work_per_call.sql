-- A ticket's work over time: every call on a ticket is work of its own (a caller who rings again
-- about an open ticket must be routed again), so a ticket may have several work items, but at
-- most one open at once.
ALTER TABLE work_items DROP CONSTRAINT work_items_ticket_id_key;
CREATE INDEX work_items_ticket ON work_items(ticket_id, id);
CREATE UNIQUE INDEX work_items_open_ticket ON work_items(ticket_id)
    WHERE state IN ('unqueued', 'waiting', 'offered', 'assigned');
