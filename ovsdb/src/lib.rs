//! RFC 7047 OVSDB client.
#![warn(missing_docs)]
