//! Channel adapters: each speaks one outside system's wire format (parse, verify signatures,
//! send) and hands inbound messages to `intake`. They know nothing of routing or sockets.

pub mod ack;
pub mod email;
pub mod outbox;
pub mod sms;
pub mod twilio;
pub mod voice;
pub mod web;
