//! [`TryReserveError`]: why a fallible reservation failed.

use std::alloc::Layout;
use std::fmt;

/// Why [`HashMap::try_reserve`](crate::HashMap::try_reserve) (and the same
/// call on the other maps and sets) could not make room.
///
/// The map is unchanged and fully usable after either error.
///
/// ```
/// let map: lfmap::HashMap<u64, u64> = lfmap::HashMap::new();
/// let err = map.try_reserve(usize::MAX).unwrap_err();
/// assert_eq!(err, lfmap::TryReserveError::CapacityOverflow);
/// map.pin().insert(1, 1); // still a working map
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryReserveError {
    /// The table this needs would have more slots than lfmap allocates
    /// (`2^(usize::BITS - 5)`) or more than `isize::MAX` bytes, the most any
    /// allocation may ask for. (A smaller table that the system cannot give,
    /// more than it has or than its address space holds, is an
    /// [`AllocError`](TryReserveError::AllocError).)
    CapacityOverflow,
    /// The allocator could not provide the table's memory.
    AllocError {
        /// The allocation that failed.
        layout: Layout,
    },
}

impl fmt::Display for TryReserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryReserveError::CapacityOverflow => {
                f.write_str("lfmap: capacity overflow (the table would not fit in memory)")
            }
            TryReserveError::AllocError { layout } => write!(
                f,
                "lfmap: the allocator could not provide {} bytes for a table",
                layout.size()
            ),
        }
    }
}

impl std::error::Error for TryReserveError {}
