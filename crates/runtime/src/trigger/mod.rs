//! Triggers: the ways requests and events reach guests.

pub mod http;
