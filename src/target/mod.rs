//! What to scan, kept apart from how to probe it (ZMap's split): parsing
//! input lines into lazily indexed target spaces, a keyed permutation over
//! them, sharding, exclusions, and the streamed unit source. Nothing here
//! knows about WebSocket beyond URL schemes.

pub mod blocklist;
pub mod exclude;
pub mod permute;
pub mod source;
pub mod spec;
mod url;

pub use blocklist::{Blocklist, CutTally};
pub use exclude::Exclusions;
pub use source::{Item, Plan, Shard, Source, Unit};
pub use spec::{Expand, Space};
pub use url::{Explicit, Target, TargetError};
