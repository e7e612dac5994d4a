//! wagw-core's conformance suites against the in-memory backends.

use wagw_store_memory::{MemoryQueue, MemoryStore};

mod store {
    use super::*;
    wagw_core::store_conformance_tests!(async { MemoryStore::new() });
}

mod queue {
    use super::*;
    wagw_core::queue_conformance_tests!(async { MemoryQueue::new() });
}
