//! OpenFlow 1.3 with Open vSwitch extensions.
#![warn(missing_docs)]

pub mod flow;
