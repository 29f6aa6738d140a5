//! Pure allocators the compiler threads from one compile to the next: OpenFlow priorities in
//! the tiered tables ([`priority`]) and rule / `conj_id` ids ([`ids`]).

pub mod ids;
pub mod priority;

pub use ids::{IdAllocator, IdsExhausted, DEFAULT_QUARANTINE};
pub use priority::{Assignment, BandFull, Move, PriorityAllocator};
