//! Policy model: parsing, validation, resolution against a cluster, and the reference evaluator.

pub mod resolved;
