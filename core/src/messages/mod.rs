//! SGP.22 messages.
