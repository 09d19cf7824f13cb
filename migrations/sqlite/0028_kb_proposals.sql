-- Learning from answered tickets (issue #19): when an agent inserts an article into a reply,
-- the customer's question on that ticket is proposed as a similar question of the article; an
-- editor accepts (it joins the article's `questions`, searched at once) or rejects it. One
-- proposal per article and wording.
CREATE TABLE kb_question_proposals (
    id INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles(id),
    ticket_id INTEGER REFERENCES tickets(id),
    question TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
    proposed_by INTEGER REFERENCES users(id),
    decided_by INTEGER REFERENCES users(id),
    created_at INTEGER NOT NULL,
    decided_at INTEGER,
    CONSTRAINT kb_question_proposals_unique UNIQUE (article_id, question)
);
CREATE INDEX kb_question_proposals_status ON kb_question_proposals (status, id);
