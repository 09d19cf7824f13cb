-- After-call work: a call answered by an agent goes to `wrap_up` at hangup and ends when the
-- agent's wrap-up does; `wrapped_at` is that moment (wrap-up time = wrapped_at - ended_at).
ALTER TABLE calls ADD COLUMN wrapped_at BIGINT;
