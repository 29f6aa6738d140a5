//! x
/// x
pub struct Connection;
