//! Hotline: a call-center and omnichannel service desk in one binary.
//!
//! The guided tour, in the order data flows (README.md has the module map and the contract):

/// AppState, startup with given listeners, graceful shutdown.
pub mod app;
/// Users, roles, passwords, sessions, API tokens, the audit log.
pub mod auth;
/// `hotline bench …`: seeding and load generators against the real server.
pub mod bench;
/// Channel adapters: email (SMTP, IMAP, MIME, outbound), SMS and voice (Twilio, CTI), web portal.
pub mod channels;
/// The clock scheduled jobs read; tests move it forward.
pub mod clock;
/// Complaints followed until the customer confirmed: categories, severities, due times,
/// reminders, the confirmation call (回访) and the register.
pub mod complaints;
/// Settings from defaults, `hotline.toml` and `HOTLINE_*` variables.
pub mod config;
/// Customers, identities (E.164 phones, emails, cards) and the 360 view.
pub mod customers;
/// Connecting, migrating, and the only per-backend SQL (`db::dialect`).
pub mod db;
/// `hotline doctor`: a configuration checked before a start, with what to fix.
pub mod doctor;
/// The API's error type with stable codes.
pub mod error;
/// Exports for admins: customers, tickets and interactions as CSV or JSON Lines, streamed.
pub mod export;
/// Routes, access guard, OpenAPI, static web assets.
pub mod http;
/// Customers and orders imported from CSV (`hotline import`, the console): chunked, resumable.
pub mod import;
/// The one path every inbound message takes into a ticket.
pub mod intake;
/// The knowledge base: articles, the tantivy index (Chinese and English), suggestions.
pub mod knowledge;
/// Rate limits of the public doors (governor): sign-in, portal, acknowledgements.
pub mod limits;
/// Counts WARN and ERROR log events (`hotline_log_events_total`).
pub mod logcount;
/// Macros: canned replies with placeholders and ticket actions, personal or shared.
pub mod macros;
/// A user's notifications: @mentions in internal notes, stored and sent live.
pub mod notifications;
/// `{name}` placeholders: finding, checking and filling them (acknowledgements, macros).
pub mod placeholders;
/// The events log, the hub that fans it out, the /ws protocol (`realtime::protocol`).
pub mod realtime;
/// Report rollups per 15 minutes, kept by the routing leader, and the reports read from them.
pub mod reports;
/// Queues, rules, presence, offers and assignment, SLA clocks, wallboard figures.
pub mod routing;
/// `hotline simulate`: demo data and a gentle stream of calls, emails, SMS and web complaints.
pub mod simulate;
/// Satisfaction surveys: sending after resolution, the survey page, answers, CSAT figures.
pub mod surveys;
/// The system status page: channels, connectors, outbox, this node.
pub mod system;
#[cfg(test)]
mod testing;
/// Tickets, interactions, replies through the outbox, hand-over.
pub mod tickets;
/// Orders, the value score (RFM) and Pareto tiers with their history.
pub mod value;
/// Outgoing webhooks: signed deliveries of chosen events, retried, logged.
pub mod webhooks;
