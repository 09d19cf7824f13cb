//! The integration-test binary: every test starts the real server on port 0 with a fresh
//! database (SQLite by default; PostgreSQL when TEST_DATABASE_URL is set).

mod support;

mod access_matrix;
mod accounts;
mod admin;
mod auth;
mod browser;
mod browser_admin;
mod browser_layout;
mod browser_live;
mod browser_macros;
mod concurrency;
mod customers;
mod day;
mod email_attachments;
mod email_corpus;
mod email_crash;
mod email_golden;
mod email_imap;
mod email_limits;
mod email_outbound;
mod email_smtp;
mod email_support;
mod email_text;
mod email_threads;
mod knowledge;
mod limits;
mod macros;
mod nodes;
mod openapi;
mod ops;
mod outbox;
mod portal;
mod realtime;
mod routing;
mod shift;
mod sms;
mod surface;
mod tickets;
mod twilio_fake;
mod twilio_sig;
mod voice;
mod voice_ws;
