//! The NATS backend (placeholder while it is written).
