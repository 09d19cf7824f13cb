-- Per-channel capacity for the agents of a queue, as JSON ({"email": 3}); an agent's own
-- setting for a channel wins, then the queue's, then the built-in default.
ALTER TABLE queues ADD COLUMN capacity TEXT NOT NULL DEFAULT '{}';
